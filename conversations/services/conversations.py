"""Writes of conversations outside a chat turn: create, rename, delete, import the SPA's copy, clear the history."""

import time
from datetime import datetime

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from pynamodb.exceptions import PutError, UpdateError

from config.clock import utcnow
from config.dynamodb.transactions import condition_failed
from config.errors import Conflict
from conversations.ids import message_id_at, message_key, new_conversation_id, user_engine_key
from conversations.models import Conversation, Feedback, Message
from conversations.selectors import conversation_get

CONVERSATION_DELETE_BATCH = 25


def conversation_create(
    *, user_id: str, engine_type: str, conversation_id: str | None = None, title: str = ""
) -> tuple[Conversation, bool]:
    """Create the conversation, or return the existing one with the same id: ``(conversation, created)``.

    The id lives under the owner's key, so a client-chosen id can never reach another user's conversation.
    """
    now = utcnow()
    conversation = Conversation(
        user_id,
        conversation_id or new_conversation_id(),
        engine_type=engine_type,
        user_engine=user_engine_key(user_id, engine_type),
        title=title,
        title_source="user" if title else "default",
        created_at=now,
        updated_at=now,
    )
    try:
        conversation.save(condition=Conversation.conversation_id.does_not_exist())
    except PutError as exc:
        if not condition_failed(exc):
            raise
        return conversation_get(user_id=user_id, conversation_id=conversation.conversation_id), False
    return conversation, True


def conversation_rename(*, user_id: str, conversation_id: str, title: str) -> Conversation:
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    conversation.update(
        actions=[
            Conversation.title.set(title),
            Conversation.title_source.set("user"),
            Conversation.updated_at.set(utcnow()),
        ],
        condition=Conversation.conversation_id.exists(),
        add_version_condition=False,  # a rename is last-writer-wins; it must not fail against a running turn
    )
    return conversation


def _messages_delete(*, user_id: str, conversation_id: str) -> None:
    """Delete the messages and their feedback (BatchWriteItem, 25 keys a request)."""
    key = message_key(user_id, conversation_id)
    keys_only = ["conversation_key", "message_id"]
    for model in (Feedback, Message):
        with model.batch_write() as batch:
            for item in model.query(key, attributes_to_get=keys_only):
                batch.delete(item)


def conversation_delete(*, user_id: str, conversation_id: str) -> None:
    """Delete the conversation, all of its messages and their feedback."""
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    _messages_delete(user_id=user_id, conversation_id=conversation_id)
    conversation.delete(add_version_condition=False)


def conversation_delete_all(*, user_id: str) -> int:
    """Delete every conversation of the user (expired ones too), with messages and feedback; how many.

    In batches of ``CONVERSATION_DELETE_BATCH`` heads, each read afresh from the start of the user's partition, so
    memory stays bounded and a conversation created meanwhile is either deleted or left whole.
    """
    deleted = 0
    while True:
        batch = list(
            Conversation.query(
                user_id,
                limit=CONVERSATION_DELETE_BATCH,
                attributes_to_get=["user_id", "conversation_id"],
                consistent_read=True,  # an eventually consistent read could return a head deleted a moment ago
            )
        )
        for conversation in batch:
            _messages_delete(user_id=user_id, conversation_id=conversation.conversation_id)
            conversation.delete(add_version_condition=False)
        deleted += len(batch)
        if len(batch) < CONVERSATION_DELETE_BATCH:
            return deleted


def conversation_messages_import(
    *, conversation: Conversation, messages: list[tuple[str, str, datetime | None]]
) -> list[Message]:
    """Store ``(role, content, created_at)`` messages, in the given order, in a conversation that has none yet.

    Used once, right after the REST API created a conversation the client already held (the SPA's offline
    copy); an existing conversation's history is only ever written by chat turns.
    """
    now = utcnow()
    base_ms = time.time_ns() // 1_000_000
    key = message_key(conversation.user_id, conversation.conversation_id)
    stored = [
        Message(
            key,
            message_id_at(base_ms, position),  # one millisecond for all: the position keeps their order
            role=role,
            # Cut at the item budget; errors="ignore" drops a character split by the cut.
            content=content.encode()[: settings.CHAT_MAX_MESSAGE_BYTES].decode(errors="ignore"),
            created_at=created_at or now,
            engine_type=conversation.engine_type,
        )
        for position, (role, content, created_at) in enumerate(messages)
    ]
    if not stored:
        return stored
    with Message.batch_write() as batch:
        for message in stored:
            batch.save(message)
    conversation.update(
        actions=[Conversation.message_count.add(len(stored)), Conversation.updated_at.set(now)],
        add_version_condition=False,
    )
    return stored


def conversation_history_clear(*, user_id: str, conversation_id: str) -> None:
    """Delete a conversation's messages (the WebSocket ``clearHistory``); refused while an answer is generating."""
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    now = utcnow()
    try:
        conversation.update(
            actions=[Conversation.message_count.set(0), Conversation.updated_at.set(now)],
            condition=Conversation.active_turn_id.does_not_exist() | (Conversation.active_turn_expires_at < now),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        raise Conflict(
            _("An answer is being generated in this conversation; stop it first."),
            code="generation_in_progress",
            retryable=True,
        ) from exc
    _messages_delete(user_id=user_id, conversation_id=conversation_id)


def conversation_import(
    *,
    user_id: str,
    engine_type: str,
    conversation_id: str | None = None,
    title: str = "",
    messages: list[tuple[str, str, datetime | None]],
) -> tuple[Conversation, bool]:
    """The REST API's create: a new id creates the conversation with the client's copy of its messages
    (``(role, content, created_at)``, in order); an existing id changes nothing. ``(conversation, created)``."""
    conversation, created = conversation_create(
        user_id=user_id, engine_type=engine_type, conversation_id=conversation_id, title=title
    )
    if created:
        conversation_messages_import(conversation=conversation, messages=messages)
    return conversation, created
