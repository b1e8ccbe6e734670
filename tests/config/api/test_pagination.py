"""Signed list cursors (config/api/pagination.py): round trip, tampering, another list's cursor, offset pages."""

import base64

import pytest
from django.core import signing

from config.api.pagination import (
    Page,
    cursor_decode,
    cursor_encode,
    offset_decode,
    offset_page,
    page_from,
    start_key_decode,
)
from config.errors import ValidationFailed

KEY = {"user_id": {"S": "alice"}, "conversation_id": {"S": "c1"}, "updated_at": {"S": "2026-11-15T12:00:00Z"}}


def refused(call, *args, **kwargs) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        call(*args, **kwargs)
    assert caught.value.code == "invalid_cursor"
    assert caught.value.status == 400
    return caught.value


def test_a_cursor_round_trips_the_start_key():
    cursor = cursor_encode(KEY)
    assert isinstance(cursor, str) and "alice" not in cursor  # compressed and opaque, not the key in clear
    assert cursor_decode(cursor) == KEY


@pytest.mark.parametrize("empty", [None, {}])
def test_the_last_page_has_no_cursor(empty):
    assert cursor_encode(empty) is None


@pytest.mark.parametrize("missing", [None, ""])
def test_no_cursor_means_the_first_page(missing):
    assert cursor_decode(missing) is None
    assert start_key_decode(missing, partition=("user_id", "alice")) is None
    assert offset_decode(missing, query={"groupBy": "day"}) == 0


def test_a_tampered_cursor_is_refused():
    cursor = cursor_encode(KEY)
    payload, _, signature = cursor.rpartition(":")
    assert refused(cursor_decode, f"{payload}:{'A' * len(signature)}").message == "The cursor is not valid."
    assert refused(cursor_decode, cursor[:-1] + ("A" if cursor[-1] != "A" else "B"))


def test_a_forged_key_signed_with_another_salt_is_refused():
    forged = signing.dumps({"user_id": {"S": "bob"}}, salt="another-purpose", compress=True)
    refused(cursor_decode, forged)


@pytest.mark.parametrize(
    "garbage",
    ["not-a-cursor", "!!!!", base64.urlsafe_b64encode(b'{"user_id": {"S": "bob"}}').decode(), "a:b:c"],
)
def test_bad_base64_and_unsigned_payloads_are_refused(garbage):
    refused(cursor_decode, garbage)


def test_a_signed_value_that_is_not_a_key_is_refused():
    refused(cursor_decode, signing.dumps(["user_id", "alice"], salt="list-cursor", compress=True))


def test_the_start_key_of_the_same_partition_is_accepted():
    assert start_key_decode(cursor_encode(KEY), partition=("user_id", "alice"), foreign="user_engine") == KEY


@pytest.mark.parametrize(
    ("partition", "foreign"),
    [
        (("user_id", "bob"), None),  # another user's list
        (("user_engine", "alice#11"), None),  # the attribute this list queries is missing
        (("user_id", "alice"), "updated_at"),  # holds an attribute only other lists' keys have
    ],
)
def test_the_start_key_of_another_list_is_refused(partition, foreign):
    error = refused(start_key_decode, cursor_encode(KEY), partition=partition, foreign=foreign)
    assert error.message == "The cursor does not belong to this list."


def test_a_start_key_must_match_the_attribute_type_and_value_exactly():
    cursor = cursor_encode({"user_id": {"N": "1"}})
    refused(start_key_decode, cursor, partition=("user_id", "1"))


class FakeResults:
    """What page_from reads of a PynamoDB ResultIterator: the items, then ``last_evaluated_key``."""

    def __init__(self, items, last_evaluated_key):
        self._items = items
        self.last_evaluated_key = last_evaluated_key

    def __iter__(self):
        return iter(self._items)


def test_page_from_keeps_at_most_limit_items_and_signs_the_next_key():
    page = page_from(FakeResults(["a", "b", "c"], KEY), 2)
    assert (page.items, page.count) == (["a", "b"], 2)
    assert cursor_decode(page.next_cursor) == KEY
    assert page_from(FakeResults(["a"], None), 2) == Page(["a"], None)


QUERY = {"from": "2026-11-01", "to": "2026-11-30", "groupBy": "user"}


def test_offset_pages_walk_the_whole_list_once():
    rows = list(range(5))
    seen, cursor = [], None
    while True:
        page = offset_page(rows, offset=offset_decode(cursor, query=QUERY), limit=2, query=QUERY)
        seen.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [[0, 1], [2, 3], [4]]


def test_an_offset_cursor_is_bound_to_its_query():
    cursor = offset_page(list(range(5)), offset=0, limit=2, query=QUERY).next_cursor
    assert offset_decode(cursor, query=QUERY) == 2
    error = refused(offset_decode, cursor, query={**QUERY, "from": "2026-11-02"})
    assert error.message == "The cursor belongs to another query."


@pytest.mark.parametrize("offset", [-1, "2", None])
def test_an_offset_cursor_needs_a_non_negative_integer(offset):
    payload = {**QUERY} if offset is None else {**QUERY, "offset": offset}
    refused(offset_decode, cursor_encode(payload), query=QUERY)


def test_a_keyset_cursor_is_no_offset_cursor():
    refused(offset_decode, cursor_encode(KEY), query=QUERY)
