"""The plain writes of conversations: create, rename, delete, import the SPA's copy, clear the history."""

from datetime import UTC, datetime, timedelta

import pytest

from config.clock import utcnow
from config.errors import Conflict, NotFound
from conversations.ids import message_key, new_message_id
from conversations.models import Conversation, Message
from conversations.selectors import conversation_get, message_list
from conversations.services import (
    conversation_create,
    conversation_delete,
    conversation_history_clear,
    conversation_messages_import,
    conversation_rename,
)


def add_messages(user_id, conversation_id, count):
    with Message.batch_write() as batch:
        for n in range(count):
            batch.save(
                Message(
                    message_key(user_id, conversation_id),
                    new_message_id(),
                    role="user",
                    content=f"m{n}",
                    created_at=conversation_get(user_id=user_id, conversation_id=conversation_id).created_at,
                )
            )


def test_conversation_create_with_a_client_id_is_idempotent():
    created, was_created = conversation_create(user_id="alice", engine_type="11", conversation_id="11_1732600000000")
    again, created_again = conversation_create(
        user_id="alice", engine_type="22", conversation_id="11_1732600000000", title="ignored"
    )

    assert (was_created, created_again) == (True, False)
    assert again.engine_type == "11"  # the existing conversation is returned unchanged
    assert again.title == ""
    assert again.created_at == created.created_at
    assert [c.conversation_id for c in Conversation.query("alice")] == ["11_1732600000000"]


def test_conversation_create_without_an_id_makes_a_fresh_one():
    first, _ = conversation_create(user_id="alice", engine_type="11", title="Hello")
    second, _ = conversation_create(user_id="alice", engine_type="11")

    assert first.conversation_id != second.conversation_id
    assert (first.title, first.title_source) == ("Hello", "user")
    assert (second.title, second.title_source) == ("", "default")
    assert first.user_engine == "alice#11"


def test_two_users_choosing_the_same_conversation_id_get_separate_conversations():
    _, mine_created = conversation_create(user_id="alice", engine_type="11", conversation_id="same", title="A")
    _, theirs_created = conversation_create(user_id="bob", engine_type="22", conversation_id="same", title="B")

    assert mine_created and theirs_created
    assert conversation_get(user_id="alice", conversation_id="same").title == "A"
    assert conversation_get(user_id="bob", conversation_id="same").title == "B"


def test_rename_changes_only_the_owners_conversation_and_moves_it_up():
    conversation_create(user_id="alice", engine_type="11", conversation_id="same", title="A")
    conversation_create(user_id="bob", engine_type="11", conversation_id="same", title="B")
    before = conversation_get(user_id="alice", conversation_id="same")

    conversation_rename(user_id="alice", conversation_id="same", title="Renamed")

    after = conversation_get(user_id="alice", conversation_id="same")
    assert (after.title, after.title_source) == ("Renamed", "user")
    assert after.updated_at > before.updated_at
    assert conversation_get(user_id="bob", conversation_id="same").title == "B"


def test_rename_of_someone_elses_conversation_is_not_found_and_creates_nothing():
    conversation_create(user_id="alice", engine_type="11", conversation_id="c1")

    with pytest.raises(NotFound):
        conversation_rename(user_id="bob", conversation_id="c1", title="hijack")

    assert list(Conversation.query("bob")) == []
    assert conversation_get(user_id="alice", conversation_id="c1").title == ""


def test_rename_is_not_refused_by_a_concurrent_head_update():
    conversation_create(user_id="alice", engine_type="11", conversation_id="c1")
    head = conversation_get(user_id="alice", conversation_id="c1")
    head.update(actions=[Conversation.message_count.add(2)])  # a turn bumped the version meanwhile

    conversation_rename(user_id="alice", conversation_id="c1", title="Renamed")

    stored = conversation_get(user_id="alice", conversation_id="c1")
    assert (stored.title, stored.message_count) == ("Renamed", 2)


def test_delete_removes_the_head_and_every_message_but_nothing_of_another_user():
    conversation_create(user_id="alice", engine_type="11", conversation_id="same")
    conversation_create(user_id="bob", engine_type="11", conversation_id="same")
    add_messages("alice", "same", 30)  # more than one BatchWriteItem (25)
    add_messages("bob", "same", 2)

    conversation_delete(user_id="alice", conversation_id="same")

    assert list(Conversation.query("alice")) == []
    assert message_list(user_id="alice", conversation_id="same").items == []
    assert len(message_list(user_id="bob", conversation_id="same").items) == 2
    assert conversation_get(user_id="bob", conversation_id="same")


def test_delete_of_someone_elses_conversation_is_not_found():
    conversation_create(user_id="alice", engine_type="11", conversation_id="c1")

    with pytest.raises(NotFound):
        conversation_delete(user_id="bob", conversation_id="c1")

    assert conversation_get(user_id="alice", conversation_id="c1")


def test_import_stores_the_messages_in_their_order_cut_to_one_item(settings):
    settings.CHAT_MAX_MESSAGE_BYTES = 10
    conversation, _ = conversation_create(user_id="alice", engine_type="11", conversation_id="c1")
    at = datetime(2024, 11, 26, tzinfo=UTC)

    conversation_messages_import(
        conversation=conversation,
        messages=[("user", "question", at), ("assistant", "가나다라", None), ("user", "again", at)],
    )

    stored = message_list(user_id="alice", conversation_id="c1").items
    assert [(m.role, m.content) for m in stored] == [("user", "question"), ("assistant", "가나다"), ("user", "again")]
    assert stored[0].created_at == at and stored[1].created_at > at
    assert conversation_get(user_id="alice", conversation_id="c1").message_count == 3


def test_clear_history_deletes_the_messages_and_keeps_the_conversation():
    conversation_create(user_id="alice", engine_type="11", conversation_id="c1")
    add_messages("alice", "c1", 3)

    conversation_history_clear(user_id="alice", conversation_id="c1")

    assert message_list(user_id="alice", conversation_id="c1").items == []
    assert conversation_get(user_id="alice", conversation_id="c1").message_count == 0


def test_clear_history_is_refused_while_an_answer_is_generating_unless_its_lease_ran_out():
    conversation_create(user_id="alice", engine_type="11", conversation_id="c1")
    add_messages("alice", "c1", 1)
    head = conversation_get(user_id="alice", conversation_id="c1")
    head.update(
        actions=[
            Conversation.active_turn_id.set("running"),
            Conversation.active_turn_expires_at.set(utcnow() + timedelta(minutes=5)),
        ],
        add_version_condition=False,
    )

    with pytest.raises(Conflict) as refused:
        conversation_history_clear(user_id="alice", conversation_id="c1")

    assert (refused.value.code, refused.value.retryable) == ("generation_in_progress", True)
    assert len(message_list(user_id="alice", conversation_id="c1").items) == 1
    head.update(actions=[Conversation.active_turn_expires_at.set(utcnow() - timedelta(seconds=1))])
    conversation_history_clear(user_id="alice", conversation_id="c1")
    assert message_list(user_id="alice", conversation_id="c1").items == []
