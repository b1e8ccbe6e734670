"""The chat WebSocket's frames (docs/websocket-protocol.md), validated by DRF serializers as REST bodies are.

Each refusal is the ``ValidationFailed`` the protocol has always sent for that field (``code``, ``message`` and,
for ``sendMessage``, ``fields``); the first invalid field in the frame's order decides.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from config.clock import iso_z, utcnow
from config.errors import ValidationFailed
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from config.json_input import text_check, utf16_join
from conversations.ids import is_valid_conversation_id
from conversations.services import TitleChanged, TurnDelta, TurnEnded, TurnEvent, TurnStarted

IDEMPOTENCY_KEY_MAX_CHARS = 128
MAX_PENDING_FRAGMENTED = 4


class JsonString(serializers.Field):
    """A JSON string, taken as sent: DRF's CharField would accept 123 as "123" and refuse NUL characters."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data

    def to_representation(self, value: str) -> str:
        return value


class JsonInteger(serializers.Field):
    """A JSON integer, not a boolean or a numeric string."""

    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return data

    def to_representation(self, value: int) -> int:
        return value


class ConversationId(JsonString):
    default_error_messages = {"invalid": "1-128 letters, digits, '_' or '-'."}

    def to_internal_value(self, data: Any) -> str | None:
        if not self.required and not data:
            return None  # what the SPA sends for a conversation the server should create
        if not is_valid_conversation_id(data):
            self.fail("invalid")
        return data


class IdempotencyKey(JsonString):
    default_error_messages = {"invalid": "At most 128 characters, no '#'."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or not data or len(data) > IDEMPOTENCY_KEY_MAX_CHARS or "#" in data:
            self.fail("invalid")
        return data


def frame_parse(serializer_class: type["FrameSerializer"], frame: dict[str, Any]) -> dict[str, Any]:
    """The frame's validated values, or the ``ValidationFailed`` of its first invalid field."""
    serializer = serializer_class(data=frame)
    if not serializer.is_valid():
        name, details = next(iter(serializer.errors.items()))
        raise serializer.refusal(name, _first(details))
    return serializer.validated_data


def _first(details: Any) -> ErrorDetail:
    """The first error of a field: a list of errors, or a nested serializer's errors by field."""
    while not isinstance(details, ErrorDetail):
        details = details[0] if isinstance(details, list) else next(iter(details.values()))
    return details


class FrameSerializer(serializers.Serializer):
    def refusal(self, name: str, detail: ErrorDetail) -> ValidationFailed:
        raise NotImplementedError


class SendMessageFrame(FrameSerializer):
    message = JsonString(error_messages=dict.fromkeys(("required", "null", "invalid"), "Must be a string."))
    engineType = JsonString(error_messages=dict.fromkeys(("required", "null", "invalid"), "Required string."))
    conversationId = ConversationId(required=False, allow_null=True, default=None)
    idempotencyKey = IdempotencyKey(required=False, allow_null=True, default=None)

    def validate_message(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Empty.", code="message_empty")
        if len(value) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise serializers.ValidationError(f"At most {settings.CHAT_MAX_MESSAGE_CHARS} characters.", code="chars")
        if len(value.encode()) > settings.CHAT_MAX_MESSAGE_BYTES:
            raise serializers.ValidationError(f"At most {settings.CHAT_MAX_MESSAGE_BYTES} bytes.", code="bytes")
        return value

    def validate_engineType(self, value: str) -> str:  # DRF's hook, named after the frame's key
        if not value.strip() or len(value) > ENGINE_TYPE_MAX_CHARS:
            raise serializers.ValidationError("Required string.", code="invalid")
        return value

    def refusal(self, name: str, detail: ErrorDetail) -> ValidationFailed:
        fields = {name: [str(detail)]}
        if name == "message":
            return _message_refusal(detail.code, fields)
        message, code = {
            "engineType": ("engineType must be a non-empty string.", "invalid"),
            "conversationId": ("conversationId is not a valid id.", "invalid_conversation_id"),
            "idempotencyKey": (
                "idempotencyKey must be a string of at most 128 characters without '#'.",
                "invalid_idempotency_key",
            ),
        }[name]
        return ValidationFailed(message, code=code, fields=fields)


def _message_refusal(code: str, fields: dict[str, list[str]]) -> ValidationFailed:
    if code == "message_empty":
        return ValidationFailed(_("The message is empty."), code="message_empty", fields=fields)
    if code == "chars":
        limit = settings.CHAT_MAX_MESSAGE_CHARS
        return ValidationFailed(
            _("The message is longer than %(n)d characters.") % {"n": limit},
            code="message_too_long",
            fields=fields,
            maxChars=limit,
        )
    if code == "bytes":
        limit = settings.CHAT_MAX_MESSAGE_BYTES
        return ValidationFailed(
            _("The message is larger than %(n)d bytes (UTF-8).") % {"n": limit},
            code="message_too_long",
            fields=fields,
            maxBytes=limit,
        )
    return ValidationFailed(_("message must be a string."), code="invalid", fields=fields)


class StopGenerationFrame(FrameSerializer):
    conversationId = ConversationId()

    def refusal(self, name: str, detail: ErrorDetail) -> ValidationFailed:
        return ValidationFailed(_("conversationId is required."), code="invalid_conversation_id")


class ClearHistoryFrame(StopGenerationFrame):
    pass


class ChunkInfo(serializers.Serializer):
    total = JsonInteger()
    current = JsonInteger()

    def validate(self, attrs: dict[str, int]) -> dict[str, int]:
        if not 1 <= attrs["current"] <= attrs["total"] <= settings.CHAT_MAX_MESSAGE_FRAGMENTS:
            raise serializers.ValidationError("Out of range.")
        return attrs


class FragmentFrame(FrameSerializer):
    """One part of a message the SPA split into several ``sendMessage`` frames."""

    chunkInfo = ChunkInfo()
    message = JsonString()
    idempotencyKey = JsonString()

    def validate_idempotencyKey(self, value: str) -> str:  # DRF's hook, named after the frame's key
        if not value:
            raise serializers.ValidationError("Required.")
        return value

    def refusal(self, name: str, detail: ErrorDetail) -> ValidationFailed:
        if name == "chunkInfo":
            return ValidationFailed(
                f"chunkInfo needs integers 1 <= current <= total <= {settings.CHAT_MAX_MESSAGE_FRAGMENTS}.",
                code="invalid_chunk",
            )
        return ValidationFailed(
            "A fragment needs a string message and the message's idempotencyKey.", code="invalid_chunk"
        )


@dataclass
class _Pending:
    total: int
    parts: list[str] = field(default_factory=list)
    chars: int = 0


class MessageFragments:
    """The messages of one connection that arrive in parts (``chunkInfo``), collected until their last part."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def add(self, frame: dict[str, Any]) -> str | None:
        """The whole message once ``frame`` brings its last part, else None."""
        values = frame_parse(FragmentFrame, frame)
        info, key, part = values["chunkInfo"], values["idempotencyKey"], values["message"]
        total, current = info["total"], info["current"]
        if current == 1:
            if key not in self._pending and len(self._pending) >= MAX_PENDING_FRAGMENTED:
                raise ValidationFailed(_("Too many fragmented messages at once."), code="too_many_fragments")
            self._pending[key] = _Pending(total=total)
        pending = self._pending.get(key)
        if pending is None or pending.total != total or len(pending.parts) != current - 1:
            self._pending.pop(key, None)
            raise ValidationFailed(_("Fragments must arrive in order, starting with current=1."), code="invalid_chunk")
        pending.parts.append(part)
        pending.chars += len(part)
        if pending.chars > settings.CHAT_MAX_MESSAGE_CHARS:
            del self._pending[key]
            raise ValidationFailed(
                _("The message is longer than %(n)d characters.") % {"n": settings.CHAT_MAX_MESSAGE_CHARS},
                code="message_too_long",
                maxChars=settings.CHAT_MAX_MESSAGE_CHARS,
            )
        if current < total:
            return None
        del self._pending[key]
        message = utf16_join(pending.parts)  # the SPA splits by UTF-16 code units, so emoji may span two parts
        text_check({"message": message})
        return message


class ResumeFrame(FrameSerializer):
    """``resume``: follow the conversation's current (or just finished) answer from after ``afterChunkIndex``."""

    conversationId = ConversationId()
    afterChunkIndex = JsonInteger(required=False, default=-1)

    def validate_afterChunkIndex(self, value: int) -> int:  # DRF's hook, named after the frame's key
        if value < -1:
            raise serializers.ValidationError("At least -1.")
        return value

    def refusal(self, name: str, detail: ErrorDetail) -> ValidationFailed:
        if name == "conversationId":
            return ValidationFailed("conversationId is required.", code="invalid_conversation_id")
        return ValidationFailed("afterChunkIndex must be an integer >= -1.", code="invalid_chunk_index")


# English source; the Korean catalog (locale/ko) holds the original's texts.
END_MESSAGE = _("The answer is complete.")
STOPPED_MESSAGE = _("The answer was stopped.")


def event_frame(event: TurnEvent, *, resumed: bool = False) -> dict[str, Any]:
    """The frame of one turn event (``resumed``: the ``ai_start`` of a socket attaching to a running answer)."""
    now = iso_z(utcnow(), timespec="auto")
    if isinstance(event, TurnDelta):
        return {"type": "ai_chunk", "chunk": event.text, "chunk_index": event.index, "timestamp": now}
    if isinstance(event, TurnStarted):
        return {
            **({"resumed": True} if resumed else {}),
            "type": "ai_start",
            "timestamp": now,
            "conversationId": event.conversation_id,
            "engine": event.engine_type,
            "userMessageId": event.user_message_id,
            "messageId": event.assistant_message_id,
            "model": event.model_id,
            "replayed": event.replayed,
        }
    if isinstance(event, TurnEnded):
        stopped = event.status == "stopped"
        return {
            "type": "chat_end",
            "engine": event.engine_type,
            "conversationId": event.conversation_id,
            "total_chunks": event.chunks,
            "response_length": len(event.content),
            "message": str(STOPPED_MESSAGE if event.status in ("stopped", "interrupted") else END_MESSAGE),
            "timestamp": now,
            "userMessageId": event.user_message_id,
            "messageId": event.assistant_message_id,
            "status": event.status,
            "stopped": stopped,
            "stopReason": event.stop_reason,
            "usage": {
                "inputTokens": event.usage.input_tokens,
                "outputTokens": event.usage.output_tokens,
                "cacheReadTokens": event.usage.cache_read_tokens,
                "cacheWriteTokens": event.usage.cache_write_tokens,
                "estimated": event.usage_estimated,
            },
            "costUsd": event.cost_usd,
            "model": event.model_id,
            "replayed": event.replayed,
        }
    if isinstance(event, TitleChanged):
        return {
            "type": "title",
            "conversationId": event.conversation_id,
            "title": event.title,
            "source": event.source,
            "timestamp": now,
        }
    raise TypeError(f"unknown turn event {event!r}")
