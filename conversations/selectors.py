"""Reads of conversations and messages. Every read is keyed by the owner's id."""

from dataclasses import dataclass

from config.api.pagination import Page, page_from, start_key_decode
from config.errors import NotFound
from conversations.ids import is_valid_conversation_id, message_key, user_engine_key
from conversations.models import ActiveGenerations, Conversation, Message


def _conversation_not_found() -> NotFound:
    return NotFound("Conversation not found", code="conversation_not_found")


def conversation_get(*, user_id: str, conversation_id: str) -> Conversation:
    """The owner's conversation; an id no conversation can have (DynamoDB refuses over-long keys) is not found."""
    if not is_valid_conversation_id(conversation_id):
        raise _conversation_not_found()
    try:
        return Conversation.get(user_id, conversation_id)
    except Conversation.DoesNotExist as exc:
        raise _conversation_not_found() from exc


def conversation_list(
    *, user_id: str, engine_type: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """A user's conversations (of one engine type, if given), most recently updated first."""
    if engine_type:
        key = user_engine_key(user_id, engine_type)
        start = start_key_decode(cursor, partition=("user_engine", key))
        results = Conversation.by_user_engine.query(
            key, scan_index_forward=False, limit=limit, last_evaluated_key=start
        )
    else:
        start = start_key_decode(cursor, partition=("user_id", user_id), foreign="user_engine")
        results = Conversation.by_user.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
    return page_from(results, limit)


def message_list(
    *, user_id: str, conversation_id: str, limit: int = 100, cursor: str | None = None, newest_first: bool = False
) -> Page:
    """A page of a conversation's messages, oldest first unless asked otherwise."""
    key = message_key(user_id, conversation_id)
    results = Message.query(
        key,
        scan_index_forward=not newest_first,
        limit=limit,
        last_evaluated_key=start_key_decode(cursor, partition=("conversation_key", key)),
    )
    return page_from(results, limit)


def message_history_list(*, user_id: str, conversation_id: str, before_message_id: str, limit: int) -> list[Message]:
    """The ``limit`` most recent messages before ``before_message_id``, oldest first (one Query).

    Consistent: a chat turn reads it just before its transaction, and an answer stored a moment ago must be in it.
    """
    results = Message.query(
        message_key(user_id, conversation_id),
        Message.message_id < before_message_id,
        scan_index_forward=False,
        limit=limit,
        consistent_read=True,
    )
    return list(results)[::-1]


def generation_slots_get(*, user_id: str) -> ActiveGenerations | None:
    """The user's running generations (consistent read); None if the user never had one."""
    try:
        return ActiveGenerations.get(user_id, consistent_read=True)
    except ActiveGenerations.DoesNotExist:
        return None


@dataclass(frozen=True)
class ConversationWithMessages:
    """A conversation and one page of its messages, oldest first; it reads as the conversation for the rest."""

    conversation: Conversation
    messages: list[Message]
    messages_next: str | None  # the cursor of the page of older messages

    def __getattr__(self, name: str) -> object:
        return getattr(self.conversation, name)


def conversation_with_messages(
    *, conversation: Conversation, limit: int, cursor: str | None = None
) -> ConversationWithMessages:
    """The conversation with its latest ``limit`` messages (or the ones before ``cursor``), oldest first."""
    page = message_list(
        user_id=conversation.user_id,
        conversation_id=conversation.conversation_id,
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return ConversationWithMessages(conversation, page.items[::-1], page.next_cursor)


def conversation_detail_get(
    *, user_id: str, conversation_id: str, messages_limit: int, messages_cursor: str | None = None
) -> ConversationWithMessages:
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    return conversation_with_messages(conversation=conversation, limit=messages_limit, cursor=messages_cursor)
