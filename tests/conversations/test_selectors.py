from datetime import UTC, datetime, timedelta

import pytest

from config.errors import NotFound, ValidationFailed
from conversations.ids import message_key
from conversations.models import ActiveGenerations, Conversation, Message
from conversations.selectors import (
    conversation_get,
    conversation_list,
    generation_slots_get,
    message_history_list,
    message_list,
)

START = datetime(2026, 3, 1, tzinfo=UTC)


def make_conversation(user_id, conversation_id, engine_type="11", minutes=0):
    at = START + timedelta(minutes=minutes)
    Conversation(
        user_id,
        conversation_id,
        engine_type=engine_type,
        user_engine=f"{user_id}#{engine_type}",
        created_at=at,
        updated_at=at,
    ).save()


def make_messages(user_id, conversation_id, count):
    key = message_key(user_id, conversation_id)
    for n in range(count):
        at = START + timedelta(seconds=n)
        Message(key, f"{int(at.timestamp() * 1000):013d}-{n:012x}", role="user", content=f"m{n}", created_at=at).save()


def all_pages(fetch, **kwargs):
    pages, cursor = [], None
    while True:
        page = fetch(cursor=cursor, **kwargs)
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_conversation_get_only_reaches_the_owners_item():
    make_conversation("alice", "c1")

    assert conversation_get(user_id="alice", conversation_id="c1").user_id == "alice"
    with pytest.raises(NotFound) as failure:
        conversation_get(user_id="bob", conversation_id="c1")
    assert failure.value.code == "conversation_not_found"


def test_conversation_list_is_newest_first_and_cursor_paged_across_pages():
    for n in range(5):
        make_conversation("alice", f"c{n}", minutes=n)
    make_conversation("bob", "b0", minutes=99)

    pages = all_pages(conversation_list, user_id="alice", limit=2)

    assert [[c.conversation_id for c in page] for page in pages] == [["c4", "c3"], ["c2", "c1"], ["c0"]]


def test_conversation_list_filters_by_engine_type_across_pages():
    for n in range(4):
        make_conversation("alice", f"fin{n}", engine_type="11", minutes=2 * n)
        make_conversation("alice", f"corp{n}", engine_type="22", minutes=2 * n + 1)
    make_conversation("bob", "bob-fin", engine_type="11", minutes=50)

    pages = all_pages(conversation_list, user_id="alice", engine_type="11", limit=3)

    listed = [c.conversation_id for page in pages for c in page]
    assert listed == ["fin3", "fin2", "fin1", "fin0"]
    assert len(pages[0]) == 3


def test_a_conversation_moves_to_the_top_when_updated():
    for n in range(3):
        make_conversation("alice", f"c{n}", minutes=n)
    head = Conversation.get("alice", "c0")
    head.update(actions=[Conversation.updated_at.set(START + timedelta(hours=1))])

    page = conversation_list(user_id="alice", limit=10)

    assert [c.conversation_id for c in page.items] == ["c0", "c2", "c1"]
    assert page.next_cursor is None


def test_message_list_pages_oldest_first_and_newest_first():
    make_messages("alice", "c1", 7)
    make_messages("bob", "c1", 2)

    ascending = all_pages(message_list, user_id="alice", conversation_id="c1", limit=3)
    descending = all_pages(message_list, user_id="alice", conversation_id="c1", limit=3, newest_first=True)

    assert [[m.content for m in page] for page in ascending] == [["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]
    assert [[m.content for m in page] for page in descending] == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]


def test_message_history_is_the_last_messages_before_the_turn_oldest_first():
    make_messages("alice", "c1", 6)
    fifth = message_list(user_id="alice", conversation_id="c1").items[5].message_id

    history = message_history_list(user_id="alice", conversation_id="c1", before_message_id=fifth, limit=3)

    assert [m.content for m in history] == ["m2", "m3", "m4"]
    assert message_history_list(user_id="bob", conversation_id="c1", before_message_id=fifth, limit=3) == []


def test_generation_slots_are_none_until_the_user_has_had_a_generation():
    assert generation_slots_get(user_id="alice") is None
    ActiveGenerations("alice", turns={"turn-1|1000"}).save()

    assert generation_slots_get(user_id="alice").turns == {"turn-1|1000"}


def test_a_tampered_cursor_is_refused():
    for n in range(3):
        make_conversation("alice", f"c{n}", minutes=n)
    cursor = conversation_list(user_id="alice", limit=1).next_cursor

    with pytest.raises(ValidationFailed) as failure:
        conversation_list(user_id="alice", limit=1, cursor=cursor[:-2] + "xx")

    assert failure.value.code == "invalid_cursor"
