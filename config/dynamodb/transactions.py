"""Transactions made of parts, and the one retry policy they run under.

Several use cases share one ``TransactWriteItems`` (the chat turn's begin: its claims, the engine type's revision
check, the quota reservation). Each is a ``TxPart``: it adds its items under names of its own choosing, and after a
cancellation it is told which of *its* conditions failed, under those names. No part knows another's names.

A cancelled transaction reports one reason per item, in request order, and PynamoDB builds that order by kind, not
by the order items were added: condition checks, then deletes, then puts, then updates
(``Connection.transact_write_items``). ``NamedTransactWrite`` keeps the names in the same order, and only takes
items through a part's ``TxScope``: the inherited unnamed methods are refused, so no item can ever shift the names.
tests/config/dynamodb/test_transactions.py pins the order against moto.
"""

from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from config.dynamodb.tables import connection

CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
# PynamoDB's request order of the item kinds.
_REQUEST_ORDER = ("check", "delete", "put", "update")


def condition_failed(exc: PynamoDBException) -> bool:
    """A single-item write (``save``/``update``/``delete`` with a condition) was refused by its condition."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class TxScope:
    """One part's view of a transaction: the names it gives its items are private to it."""

    def __init__(self, tx: "NamedTransactWrite", owner: int) -> None:
        self._tx = tx
        self._owner = owner

    def check(self, name: str, model_cls: type, hash_key: Any, range_key: Any = None, *, condition: Condition) -> None:
        TransactWrite.condition_check(self._tx, model_cls, hash_key, range_key, condition=condition)
        self._tx._record("check", self._owner, name)

    def delete(self, name: str, item: Any, *, condition: Condition | None = None) -> None:
        TransactWrite.delete(self._tx, item, condition=condition, add_version_condition=False)
        self._tx._record("delete", self._owner, name)

    def put(self, name: str, item: Any, *, condition: Condition | None = None) -> None:
        TransactWrite.save(self._tx, item, condition=condition)
        self._tx._record("put", self._owner, name)

    def update(self, name: str, item: Any, *, actions: list, condition: Condition | None = None) -> None:
        TransactWrite.update(self._tx, item, actions=actions, condition=condition, add_version_condition=False)
        self._tx._record("update", self._owner, name)


class TxPart(Protocol):
    def add_to(self, tx: TxScope) -> None:
        """Add this attempt's items (none is fine)."""

    def on_cancelled(self, failed: set[str]) -> bool:
        """Some of this part's conditions (``failed``: its own names) failed. Return True once re-drafted for the
        next attempt, False if it cannot go on; or raise the error the caller should see."""


class NamedTransactWrite(TransactWrite):
    def __init__(self) -> None:
        super().__init__(connection=connection())
        self._names: dict[str, list[tuple[int, str]]] = {kind: [] for kind in _REQUEST_ORDER}

    def scope(self, owner: int) -> TxScope:
        return TxScope(self, owner)

    def _record(self, kind: str, owner: int, name: str) -> None:
        self._names[kind].append((owner, name))

    def _unnamed(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("add items through a TxScope (NamedTransactWrite.scope), so each one has a name")

    condition_check = delete = save = update = _unnamed

    @property
    def empty(self) -> bool:
        return not any(self._names.values())

    def _commit(self) -> Any:
        if self.empty:
            return None  # every part had nothing (left) to write: no request
        return super()._commit()

    def failed(self, exc: TransactWriteError) -> dict[int, set[str]]:
        """The names of the items whose condition failed, by owner (empty if the cancellation had other causes)."""
        reasons = exc.cancellation_reasons or []
        if not reasons:
            return {}
        names = [entry for kind in _REQUEST_ORDER for entry in self._names[kind]]
        if len(reasons) != len(names):
            raise RuntimeError(f"{len(reasons)} cancellation reasons for {len(names)} named items") from exc
        failed: dict[int, set[str]] = {}
        for (owner, name), reason in zip(names, reasons, strict=True):
            if reason is not None and reason.code == CONDITION_FAILED:
                failed.setdefault(owner, set()).add(name)
        return failed

    @staticmethod
    def conflicted(exc: TransactWriteError) -> bool:
        """Cancelled only because another request was writing one of the items at that moment: worth a retry."""
        return any(reason is not None and reason.code == CONFLICT for reason in exc.cancellation_reasons or [])


def transact(parts: Sequence[TxPart], *, attempts: int, busy_error: Exception) -> None:
    """Write every part's items in one transaction, until it commits.

    A cancellation without a failed condition is retried as it is if it was a write conflict, else raised. When
    conditions failed, every part that owns one is told (in ``parts`` order; one may raise); the transaction is
    drafted again only if each of them re-drafted, else the ``TransactWriteError`` is raised. ``busy_error`` is
    raised after ``attempts`` cancelled tries.
    """
    for _attempt in range(attempts):
        tx = NamedTransactWrite()
        try:
            with tx:
                for owner, part in enumerate(parts):
                    part.add_to(tx.scope(owner))
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if not failed:
                if tx.conflicted(exc):
                    continue
                raise
            redrafted = [parts[owner].on_cancelled(names) for owner, names in sorted(failed.items())]
            if not all(redrafted):
                raise
            continue
        return
    raise busy_error
