"""Writes and use cases of conversations."""

from pynamodb.exceptions import PutError

from config.clock import utcnow
from conversations.ids import message_key, new_conversation_id
from conversations.models import Conversation, Message
from conversations.selectors import conversation_get


def _is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


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
        user_engine=f"{user_id}#{engine_type}",
        title=title,
        title_source="user" if title else "default",
        created_at=now,
        updated_at=now,
    )
    try:
        conversation.save(condition=Conversation.conversation_id.does_not_exist())
    except PutError as exc:
        if not _is_condition_failure(exc):
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


def conversation_delete(*, user_id: str, conversation_id: str) -> None:
    """Delete the conversation and all of its messages."""
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    with Message.batch_write() as batch:
        keys_only = ["conversation_key", "message_id"]
        for message in Message.query(message_key(user_id, conversation_id), attributes_to_get=keys_only):
            batch.delete(message)
    conversation.delete(add_version_condition=False)
