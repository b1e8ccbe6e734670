"""Conversation and message identifiers: the accepted id format, new ids, time-ordered message ids, the key."""

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from conversations import ids
from conversations.ids import is_valid_conversation_id, message_key, new_conversation_id, new_message_id
from tests.factories import NOW

NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(
    "value",
    ["11_1732600000000", "c1", "a", "A-Z_a-z-0-9", "x" * 128, "3f2b8c1e-6d4a-4b7e-9a51-0c2d3e4f5a6b"],
)
def test_the_spas_ids_uuids_and_any_short_word_of_letters_digits_dash_underscore_are_valid(value):
    assert is_valid_conversation_id(value) is True


@pytest.mark.parametrize(
    "value",
    ["", "x" * 129, "a#b", "a b", "a/b", "a.b", "abc\n", "대화", "ü"],
)
def test_empty_too_long_and_other_characters_are_invalid(value):
    assert is_valid_conversation_id(value) is False


@pytest.mark.parametrize("value", [None, 11, b"c1", ["c1"]])
def test_only_strings_can_be_conversation_ids(value):
    assert is_valid_conversation_id(value) is False


def test_a_new_conversation_id_is_a_fresh_valid_uuid4():
    made = {new_conversation_id() for _ in range(50)}

    assert len(made) == 50
    for value in made:
        assert uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
        assert is_valid_conversation_id(value)


@pytest.fixture
def fresh_sequence(frozen_time, monkeypatch):
    """The process's message-id high-water mark cleared, so the ids follow the frozen clock from NOW on."""
    monkeypatch.setattr(ids, "_last_millis", 0)
    return frozen_time


def test_a_message_id_is_the_millisecond_a_sequence_number_and_randomness(fresh_sequence):
    first, second, third = (new_message_id() for _ in range(3))

    assert [i[:14] for i in (first, second, third)] == [f"{NOW_MS:013d}-"] * 3
    assert [i[14:18] for i in (first, second, third)] == ["0000", "0001", "0002"]
    assert all(re.fullmatch(r"\d{13}-[0-9a-f]{12}", value) for value in (first, second, third))
    assert len({value[18:] for value in (first, second, third)}) == 3
    assert first < second < third


def test_the_sequence_starts_over_in_each_new_millisecond(fresh_sequence):
    new_message_id()
    new_message_id()
    fresh_sequence.shift(timedelta(milliseconds=1))

    later = new_message_id()

    assert later[:18] == f"{NOW_MS + 1:013d}-0000"


def test_ids_keep_their_order_when_the_clock_goes_back(fresh_sequence):
    before = [new_message_id(), new_message_id()]
    fresh_sequence.shift(timedelta(seconds=-5))

    after = new_message_id()

    assert after[:18] == f"{NOW_MS:013d}-0002"
    assert [*before, after] == sorted([*before, after])


def test_ids_made_from_many_threads_are_unique_and_sort_in_making_order_within_each_thread(fresh_sequence):
    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda _: [new_message_id() for _ in range(50)], range(4)))

    every = [value for batch in batches for value in batch]
    assert len(set(every)) == 200
    assert all(batch == sorted(batch) for batch in batches)
    assert sorted(int(value[14:18], 16) for value in every) == list(range(200))


def test_the_message_key_is_owner_and_conversation_joined_by_a_hash():
    assert message_key("sub-123", "11_1732600000000") == "sub-123#11_1732600000000"
    assert message_key("alice", "c1") != message_key("bob", "c1")


def test_an_idempotency_key_is_scoped_to_its_user():
    assert ids.idempotency_record_key("u1", "k") != ids.idempotency_record_key("u2", "k")
    assert ids.idempotency_record_key("u1", "k") == "u1#k"
