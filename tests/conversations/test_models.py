from datetime import UTC, datetime, timedelta

import pytest
from pynamodb.exceptions import PutError

from conversations.ids import message_key, new_message_id
from conversations.models import Conversation, IdempotencyRecord, Message

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def conversation(user_id, conversation_id="c1", engine_type="11", **fields):
    return Conversation(
        user_id,
        conversation_id,
        engine_type=engine_type,
        user_engine=f"{user_id}#{engine_type}",
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def test_conversation_head_round_trips_with_counters_and_a_version():
    conversation("u1", title="Quarterly results", message_count=2).save()

    stored = Conversation.get("u1", "c1")

    assert (stored.engine_type, stored.user_engine, stored.title) == ("11", "u1#11", "Quarterly results")
    assert stored.message_count == 2
    assert stored.created_at == NOW
    assert stored.version == 1
    assert stored.active_turn_id is None


def test_the_same_conversation_id_of_two_users_is_two_separate_items():
    conversation("alice", "11_1732600000000", title="mine").save()
    conversation("bob", "11_1732600000000", title="yours").save()

    assert Conversation.get("alice", "11_1732600000000").title == "mine"
    assert Conversation.get("bob", "11_1732600000000").title == "yours"
    assert [c.title for c in Conversation.query("alice")] == ["mine"]
    assert [c.title for c in Conversation.by_user.query("bob")] == ["yours"]


def test_messages_are_one_item_each_under_the_owner_scoped_key_in_time_order():
    key = message_key("alice", "c1")
    ids = [new_message_id() for _ in range(3)]
    for position, message_id in enumerate(ids):
        Message(
            key,
            message_id,
            role="user" if position % 2 == 0 else "assistant",
            content=f"m{position}",
            created_at=NOW + timedelta(seconds=position),
        ).save()
    Message(message_key("bob", "c1"), new_message_id(), role="user", content="bob's", created_at=NOW).save()

    stored = list(Message.query(key))

    assert [m.content for m in stored] == ["m0", "m1", "m2"]
    assert [m.message_id for m in stored] == sorted(ids)
    assert stored[0].status == "complete"


def test_message_ids_made_in_one_process_sort_in_creation_order_even_within_a_millisecond():
    ids = [new_message_id() for _ in range(200)]

    assert ids == sorted(ids)
    assert len(set(ids)) == 200
    assert {len(i) for i in ids} == {26}


def test_a_stale_conversation_head_cannot_overwrite_a_newer_one():
    conversation("u1").save()
    first = Conversation.get("u1", "c1")
    second = Conversation.get("u1", "c1")
    first.title = "first writer"
    first.save()

    second.title = "second writer"
    with pytest.raises(PutError) as failure:
        second.save()

    assert failure.value.cause_response_code == "ConditionalCheckFailedException"
    assert Conversation.get("u1", "c1").title == "first writer"
    assert Conversation.get("u1", "c1").version == 2


def test_idempotency_record_keeps_its_result_and_expiry():
    expires = NOW + timedelta(days=1)
    IdempotencyRecord(
        "u1#key-1", conversation_id="c1", created_at=NOW, expires_at=expires, result={"assistantMessageId": "m2"}
    ).save()

    stored = IdempotencyRecord.get("u1#key-1")

    assert stored.status == "running"
    assert stored.result == {"assistantMessageId": "m2"}
    assert stored.expires_at == expires
