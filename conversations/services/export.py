"""A conversation as a file: Markdown for people, JSON for machines, produced page by page.

``conversation_export`` reads the head first (so a missing conversation is a 404 before anything is sent) and
returns the file name and an iterator of text chunks; the messages are read ``EXPORT_PAGE_MESSAGES`` at a time,
oldest first, with their feedback, so a long conversation is never held in memory at once.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext

from config.clock import iso_z
from conversations.models import Conversation, Feedback, Message
from conversations.selectors import conversation_get, feedback_by_message, message_list

EXPORT_FORMATS = ("md", "json")
EXPORT_PAGE_MESSAGES = 100
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ConversationExport:
    file_name: str  # ASCII letters, digits, . _ - only: safe in Content-Disposition on every client
    content_type: str
    chunks: Iterator[str]


def _pages(conversation: Conversation) -> Iterator[tuple[Message, Feedback | None]]:
    cursor = None
    while True:
        page = message_list(
            user_id=conversation.user_id,
            conversation_id=conversation.conversation_id,
            limit=EXPORT_PAGE_MESSAGES,
            cursor=cursor,
        )
        feedback = feedback_by_message(
            user_id=conversation.user_id, conversation_id=conversation.conversation_id, messages=page.items
        )
        for message in page.items:
            yield message, feedback.get(message.message_id)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _time(value) -> str | None:
    return iso_z(value, timespec="milliseconds") if value is not None else None


def message_export_dict(message: Message, feedback: Feedback | None) -> dict:
    return {
        "id": message.message_id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "createdAt": _time(message.created_at),
        "engineType": message.engine_type,
        "modelId": message.model_id,
        "promptRevision": int(message.prompt_revision) if message.prompt_revision is not None else None,
        "stopReason": message.stop_reason,
        "errorCode": message.error_code,
        "usage": {
            "inputTokens": message.input_tokens,
            "outputTokens": message.output_tokens,
            "cacheReadTokens": message.cache_read_tokens,
            "cacheWriteTokens": message.cache_write_tokens,
            "estimated": message.usage_estimated,
            "costUsd": str(message.cost_usd) if message.cost_usd is not None else None,
        },
        "feedback": (
            {"rating": feedback.rating, "comment": feedback.comment, "ratedAt": _time(feedback.rated_at)}
            if feedback is not None
            else None
        ),
    }


def _json_chunks(conversation: Conversation) -> Iterator[str]:
    head = {
        "conversationId": conversation.conversation_id,
        "engineType": conversation.engine_type,
        "title": conversation.title,
        "createdAt": _time(conversation.created_at),
        "updatedAt": _time(conversation.updated_at),
        "expiresAt": _time(conversation.expires_at),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": ['
    for position, (message, feedback) in enumerate(_pages(conversation)):
        yield ("," if position else "") + "\n" + json.dumps(message_export_dict(message, feedback), ensure_ascii=False)
    yield "\n]}\n"


def _markdown_chunks(conversation: Conversation, labels: dict[str, str]) -> Iterator[str]:
    yield f"# {conversation.title or conversation.conversation_id}\n"
    for message, _feedback in _pages(conversation):
        label = labels.get(message.role, message.role)
        # The content is the message's own Markdown, kept as is; a heading per message keeps turns apart.
        yield f"\n## {label} · {_time(message.created_at)}\n\n{message.content}\n"


def conversation_export(*, user_id: str, conversation_id: str, export_format: str) -> ConversationExport:
    """The owner's conversation as Markdown (``md``) or JSON (``json``); ``conversation_not_found`` otherwise."""
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    stem = _UNSAFE_FILE_CHARS.sub("_", conversation.conversation_id).strip("._") or "conversation"
    if export_format == "json":
        return ConversationExport(f"{stem}.json", "application/json; charset=utf-8", _json_chunks(conversation))
    # Translated now, in the request's language: the chunks are produced after the view has returned.
    labels = {"user": gettext("User"), "assistant": gettext("Assistant")}
    return ConversationExport(f"{stem}.md", "text/markdown; charset=utf-8", _markdown_chunks(conversation, labels))
