"""Transactions of parts against moto: which part hears of which failed condition, and the one retry policy.

The items are added in the reverse of PynamoDB's request order (checks, deletes, puts, updates), each named after
its kind, and every part uses the same names: a change in PynamoDB's order, or an item kind the names do not track,
makes a failure reach the wrong part or name and fails these tests.
"""

import pytest
from botocore.exceptions import ClientError
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection.base import Connection
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.models import Model

from config.dynamodb.tables import connection, table_meta
from config.dynamodb.transactions import NamedTransactWrite, condition_failed, transact
from config.errors import Conflict, RateLimited

KINDS = ("check", "delete", "put", "update")


class Box(Model):
    Meta = table_meta("transaction_test_boxes")

    box_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute(default="ok")
    count = NumberAttribute(default=0)


class Unstored(Model):
    Meta = table_meta("transaction_test_no_table")

    box_id = UnicodeAttribute(hash_key=True)


@pytest.fixture(autouse=True)
def boxes():
    Box.create_table(wait=True)
    for box_id in ("check-1", "delete-1", "update-1", "check-2", "delete-2", "update-2"):
        Box(box_id).save()


class Part:
    """Adds one item of each kind, named after its kind (as every other part's are), in reverse request order.

    Its boxes are ``<kind>-<number>``; ``failing`` is the kind whose condition fails until this part is told.
    """

    def __init__(self, number: int, *, failing: str | None = None, redrafts: bool = True) -> None:
        self.number = number
        self.failing = failing
        self.redrafts = redrafts
        self.told: list[set[str]] = []

    def _condition(self, kind: str):
        return Box.state == ("missing" if kind == self.failing else "ok")

    def add_to(self, tx) -> None:
        n = self.number
        tx.update("update", Box(f"update-{n}"), actions=[Box.count.add(1)], condition=self._condition("update"))
        tx.put("put", Box(f"put-{n}", state="new"), condition=self._condition("put") | Box.box_id.does_not_exist())
        tx.delete("delete", Box(f"delete-{n}"), condition=self._condition("delete"))
        tx.check("check", Box, f"check-{n}", condition=self._condition("check"))

    def on_cancelled(self, failed: set[str]) -> bool:
        self.told.append(failed)
        self.failing = None
        return self.redrafts


def stored(box_id: str) -> Box | None:
    try:
        return Box.get(box_id)
    except Box.DoesNotExist:
        return None


@pytest.fixture
def requests(monkeypatch):
    """The operations every DynamoDB request made, and the item kinds of each TransactWriteItems, in order."""
    sent: list[tuple[str, list[str]]] = []
    original = Connection.dispatch

    def dispatch(self, operation_name, operation_kwargs):
        kinds = [next(iter(item)) for item in operation_kwargs.get("TransactItems", [])]
        sent.append((operation_name, kinds))
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    return sent


class TestFailedConditions:
    @pytest.mark.parametrize("kind", KINDS)
    def test_reach_only_their_own_part_under_its_own_name_then_the_redraft_commits(self, kind):
        # The put's condition can only fail on an existing item.
        Box("put-2").save()
        quiet, failing = Part(1), Part(2, failing=kind)

        transact([quiet, failing], attempts=3, busy_error=RuntimeError("busy"))

        assert (quiet.told, failing.told) == ([], [{kind}])
        for n in (1, 2):
            assert stored(f"update-{n}").count == 1
            assert stored(f"put-{n}").state == "new"
            assert stored(f"delete-{n}") is None

    def test_of_several_parts_are_each_told_in_the_parts_order(self):
        first, second = Part(1, failing="delete"), Part(2, failing="check")

        transact([first, second], attempts=3, busy_error=RuntimeError("busy"))

        assert (first.told, second.told) == ([{"delete"}], [{"check"}])

    def test_leave_nothing_written(self):
        with pytest.raises(TransactWriteError):
            transact([Part(1), Part(2, failing="update", redrafts=False)], attempts=3, busy_error=RuntimeError("busy"))

        assert stored("update-1").count == 0 and stored("delete-1") is not None and stored("put-1") is None

    def test_a_part_that_cannot_go_on_has_the_error_raised_after_every_failed_part_was_told(self):
        declining, redrafting = Part(1, failing="put", redrafts=False), Part(2, failing="put")
        Box("put-1").save()
        Box("put-2").save()

        with pytest.raises(TransactWriteError):
            transact([declining, redrafting], attempts=3, busy_error=RuntimeError("busy"))

        assert (declining.told, redrafting.told) == ([{"put"}], [{"put"}])

    def test_an_error_a_part_raises_reaches_the_caller(self):
        class Refusing(Part):
            def on_cancelled(self, failed):
                raise Conflict("taken", code="taken")

        with pytest.raises(Conflict):
            transact([Refusing(1, failing="check")], attempts=3, busy_error=RuntimeError("busy"))

    def test_that_keep_failing_end_with_the_busy_error(self):
        class Stubborn(Part):
            def on_cancelled(self, failed):
                self.told.append(failed)
                return True

        stubborn = Stubborn(1, failing="update")

        with pytest.raises(RateLimited):
            transact([stubborn], attempts=4, busy_error=RateLimited(code="busy"))

        assert stubborn.told == [{"update"}] * 4


def test_pynamodb_sends_checks_deletes_puts_then_updates_whatever_the_order_they_were_added_in(requests):
    transact([Part(1)], attempts=1, busy_error=RuntimeError("busy"))

    assert requests == [("TransactWriteItems", ["ConditionCheck", "Delete", "Put", "Update"])]


def test_a_write_conflict_is_retried_as_it_is_without_telling_any_part(monkeypatch, requests):
    client = connection().client
    original = client._make_api_call
    conflicts = [True]

    def conflicting(operation_name, operation_kwargs):
        if operation_name == "TransactWriteItems" and conflicts:
            conflicts.pop()
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}, *[{"Code": "None"}] * 2],
                },
                operation_name,
            )
        return original(operation_name, operation_kwargs)

    monkeypatch.setattr(client, "_make_api_call", conflicting)
    part = Part(1)

    transact([part], attempts=2, busy_error=RuntimeError("busy"))

    assert part.told == [] and [operation for operation, _kinds in requests] == ["TransactWriteItems"] * 2
    assert stored("update-1").count == 1


def test_a_transaction_with_nothing_to_write_sends_no_request(requests):
    class Idle:
        def add_to(self, tx):
            pass

        def on_cancelled(self, failed):
            raise AssertionError("never cancelled")

    transact([Idle()], attempts=1, busy_error=RuntimeError("busy"))

    assert requests == []


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("condition_check", (Box, "check-1")),
        ("delete", (Box("delete-1"),)),
        ("save", (Box("put-1"),)),
        ("update", (Box("update-1"), [Box.count.add(1)])),
    ],
)
def test_items_can_only_be_added_with_a_name(method, args):
    with pytest.raises(TypeError):
        getattr(NamedTransactWrite(), method)(*args)


def test_condition_failed_tells_a_refused_single_write_from_other_errors():
    with pytest.raises(PutError) as refused:
        Box("check-1").save(condition=Box.box_id.does_not_exist())
    with pytest.raises(PutError) as other:
        Unstored("x").save(condition=Unstored.box_id.does_not_exist())

    assert condition_failed(refused.value) is True
    assert condition_failed(other.value) is False
