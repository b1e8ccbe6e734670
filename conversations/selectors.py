"""Reads of conversations and messages. Every read is keyed by the owner's id."""

from config.api.pagination import Page, cursor_decode, page_from
from config.errors import NotFound
from conversations.ids import message_key
from conversations.models import Conversation, Message


def conversation_get(*, user_id: str, conversation_id: str) -> Conversation:
    try:
        return Conversation.get(user_id, conversation_id)
    except Conversation.DoesNotExist as exc:
        raise NotFound("Conversation not found", code="conversation_not_found") from exc


def conversation_find(*, user_id: str, conversation_id: str) -> Conversation | None:
    try:
        return Conversation.get(user_id, conversation_id)
    except Conversation.DoesNotExist:
        return None


def conversation_list(
    *, user_id: str, engine_type: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """A user's conversations, most recently updated first."""
    start = cursor_decode(cursor)
    if engine_type:
        results = Conversation.by_user_engine.query(
            f"{user_id}#{engine_type}", scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
    else:
        results = Conversation.by_user.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
    return page_from(results, limit)


def message_list(
    *, user_id: str, conversation_id: str, limit: int = 100, cursor: str | None = None, newest_first: bool = False
) -> Page:
    """A page of a conversation's messages, oldest first unless asked otherwise."""
    results = Message.query(
        message_key(user_id, conversation_id),
        scan_index_forward=not newest_first,
        limit=limit,
        last_evaluated_key=cursor_decode(cursor),
    )
    return page_from(results, limit)


def message_recent(*, user_id: str, conversation_id: str, limit: int) -> list[Message]:
    """The last ``limit`` messages of a conversation, in chronological order."""
    results = Message.query(message_key(user_id, conversation_id), scan_index_forward=False, limit=limit)
    return list(results)[::-1]
