"""The chat WebSocket (``/ws``): parses and checks frames, runs turns, renders their events.

The protocol (frames both ways, error and close codes) is documented in docs/websocket-protocol.md. Identity comes
from the authenticated connection only; ``userId``/``userRole`` in frames are ignored. Each generation runs in a
task the connection owns, so frames such as ``stopGeneration`` are handled while an answer streams.
"""

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from config.aio import run_io
from config.auth.identity import owner_id
from config.clock import iso_z, utcnow
from config.errors import ApplicationError, ValidationFailed
from conversations.ids import is_valid_conversation_id
from conversations.services import conversation_history_clear
from conversations.turns import (
    TitleChanged,
    TurnDelta,
    TurnEnded,
    TurnStarted,
    turn_request_build,
    turn_run,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# How long a disconnect waits for stopped generations to store their partial answers (daphne cancels at 10 s).
DISCONNECT_SAVE_SECONDS = 8.0
MAX_PENDING_FRAGMENTED = 4
END_MESSAGE = "응답 생성이 완료되었습니다."
STOPPED_MESSAGE = "응답 생성이 중지되었습니다."
CLEARED_MESSAGE = "대화 기록이 초기화되었습니다."

_INCOMPLETE = object()

# Generations that outlive their connection (CHAT_ON_DISCONNECT=finish): referenced here until they end.
_detached: set[asyncio.Task] = set()


@dataclass(eq=False)
class Generation:
    stop: asyncio.Event
    conversation_id: str | None
    task: asyncio.Task | None = None


@dataclass
class Fragments:
    """A message the SPA split into several frames (``chunkInfo``), collected until its last part."""

    total: int
    parts: list[str] = field(default_factory=list)
    chars: int = 0


def _timestamp() -> str:
    return iso_z(utcnow(), timespec="auto")


def _invalid(message: str, code: str = "invalid", **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, **extra)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.generations: set[Generation] = set()
        self.fragments: dict[str, Fragments] = {}
        self.closed = False
        user = self.scope.get("user")
        # Accept first, then close: a close code only reaches the client after the handshake.
        await self.accept()
        if user is None or not user.is_authenticated:
            auth_error = self.scope.get("auth_error") or {
                "error": "Authentication required: sign in, or pass a token.",
                "code": "not_authenticated",
                "closeCode": CLOSE_UNAUTHENTICATED,
            }
            await self._refuse(auth_error["error"], auth_error["code"], auth_error["closeCode"])
            return
        if not getattr(user, "is_active", True):
            await self._refuse("This account is disabled.", "forbidden", CLOSE_FORBIDDEN)
            return
        self.user_id = owner_id(user)
        self.is_staff = bool(getattr(user, "is_staff", False))

    async def _refuse(self, message: str, code: str, close_code: int) -> None:
        await self.send_json(
            {"type": "error", "code": code, "retryable": close_code == 1013, "message": message, "error": message}
        )
        self.closed = True
        await self.close(code=close_code)

    # --- frames in --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.closed:
            return
        try:
            if text_data is None:
                raise _invalid("Binary frames are not supported; send JSON text frames.", "binary_frame")
            if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
                raise _invalid(
                    f"The frame is larger than {settings.CHAT_MAX_FRAME_BYTES} bytes.",
                    "frame_too_large",
                    maxBytes=settings.CHAT_MAX_FRAME_BYTES,
                )
            try:
                frame = json.loads(text_data)
            except ValueError as exc:
                raise _invalid("The frame is not valid JSON.", "invalid_json") from exc
            if not isinstance(frame, dict):
                raise _invalid("A frame must be a JSON object with an action.", "invalid_frame")
            await self.receive_json(frame)
        except ApplicationError as exc:
            await self._send_error(exc)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        # The original treated a frame without an action as sendMessage; kept for its clients.
        action = content.get("action", "sendMessage")
        handlers = {
            "sendMessage": self._send_message,
            "stopGeneration": self._stop_generation,
            "clearHistory": self._clear_history,
        }
        handler = handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            raise _invalid(f"Unknown action: {str(action)[:64]}", "unknown_action", actions=sorted(handlers))
        await handler(content)

    async def _send_message(self, frame: dict[str, Any]) -> None:
        message = self._assembled_message(frame)
        if message is _INCOMPLETE:
            return  # more fragments to come
        request = turn_request_build(
            user_id=self.user_id,
            is_staff=self.is_staff,
            engine_type=frame.get("engineType"),
            message=message,
            conversation_id=frame.get("conversationId") or None,
            idempotency_key=frame.get("idempotencyKey"),
        )
        generation = Generation(stop=asyncio.Event(), conversation_id=request.conversation_id)
        generation.task = asyncio.create_task(self._generate(request, generation))
        self.generations.add(generation)
        generation.task.add_done_callback(lambda _task: self.generations.discard(generation))

    def _assembled_message(self, frame: dict[str, Any]) -> Any:
        """The frame's message, or ``_INCOMPLETE`` while a fragmented message (``chunkInfo``) lacks parts."""
        info = frame.get("chunkInfo")
        if info is None:
            return frame.get("message")
        total, current = (info.get("total"), info.get("current")) if isinstance(info, dict) else (None, None)
        if not (
            isinstance(total, int)
            and isinstance(current, int)
            and not isinstance(total, bool)
            and not isinstance(current, bool)
            and 1 <= current <= total <= settings.CHAT_MAX_MESSAGE_FRAGMENTS
        ):
            raise _invalid(
                f"chunkInfo needs integers 1 <= current <= total <= {settings.CHAT_MAX_MESSAGE_FRAGMENTS}.",
                "invalid_chunk",
            )
        key, part = frame.get("idempotencyKey"), frame.get("message")
        if not isinstance(key, str) or not key or not isinstance(part, str):
            raise _invalid("A fragment needs a string message and the message's idempotencyKey.", "invalid_chunk")
        if current == 1:
            if key not in self.fragments and len(self.fragments) >= MAX_PENDING_FRAGMENTED:
                raise _invalid("Too many fragmented messages at once.", "too_many_fragments")
            self.fragments[key] = Fragments(total=total)
        pending = self.fragments.get(key)
        if pending is None or pending.total != total or len(pending.parts) != current - 1:
            self.fragments.pop(key, None)
            raise _invalid("Fragments must arrive in order, starting with current=1.", "invalid_chunk")
        pending.parts.append(part)
        pending.chars += len(part)
        if pending.chars > settings.CHAT_MAX_MESSAGE_CHARS:
            del self.fragments[key]
            raise _invalid(
                f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters.",
                "message_too_long",
                maxChars=settings.CHAT_MAX_MESSAGE_CHARS,
            )
        if current < total:
            return _INCOMPLETE
        del self.fragments[key]
        return "".join(pending.parts)

    async def _stop_generation(self, frame: dict[str, Any]) -> None:
        conversation_id = frame.get("conversationId")
        if not is_valid_conversation_id(conversation_id):
            raise _invalid("conversationId is required.", "invalid_conversation_id")
        running = [g for g in self.generations if g.conversation_id == conversation_id and not g.stop.is_set()]
        if not running:
            raise ApplicationError(
                "No answer is being generated for this conversation on this connection.",
                code="no_active_generation",
                conversationId=conversation_id,
            )
        for generation in running:
            generation.stop.set()  # the turn closes the model stream and ends with chat_end {stopped: true}

    async def _clear_history(self, frame: dict[str, Any]) -> None:
        conversation_id = frame.get("conversationId")
        if not is_valid_conversation_id(conversation_id):
            raise _invalid("conversationId is required.", "invalid_conversation_id")
        await run_io(conversation_history_clear, user_id=self.user_id, conversation_id=conversation_id)
        await self._send(
            {
                "type": "history_cleared",
                "conversationId": conversation_id,
                "message": CLEARED_MESSAGE,
                "timestamp": _timestamp(),
            }
        )

    # --- a generation -----------------------------------------------------------------------------

    async def _generate(self, request: Any, generation: Generation) -> None:
        try:
            async for event in turn_run(request, stop=generation.stop):
                if isinstance(event, TurnStarted):
                    generation.conversation_id = event.conversation_id
                await self._send(self._render(event))
        except ApplicationError as exc:
            await self._send_error(exc, conversationId=generation.conversation_id)
        except Exception:
            logger.exception("turn failed for user %s", request.user_id)
            await self._send_error(
                ApplicationError("The message could not be processed.", code="internal_error", retryable=True),
                conversationId=generation.conversation_id,
            )

    @staticmethod
    def _render(event: Any) -> dict[str, Any]:
        now = _timestamp()
        if isinstance(event, TurnDelta):
            return {"type": "ai_chunk", "chunk": event.text, "chunk_index": event.index, "timestamp": now}
        if isinstance(event, TurnStarted):
            return {
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
                "message": STOPPED_MESSAGE if stopped else END_MESSAGE,
                "timestamp": now,
                "userMessageId": event.user_message_id,
                "messageId": event.assistant_message_id,
                "status": event.status,
                "stopped": stopped,
                "stopReason": event.stop_reason,
                "usage": event.usage,
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

    # --- frames out -------------------------------------------------------------------------------

    async def _send_error(self, exc: ApplicationError, **context: Any) -> None:
        body = {**{k: v for k, v in context.items() if v is not None}, **exc.as_dict()}
        await self._send(
            {"type": "error", **body, "message": exc.message, "retryable": exc.retryable, "timestamp": _timestamp()}
        )

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return  # the client is gone (e.g. a generation finishing after a disconnect)
        try:
            await self.send_json(frame)
        except Exception:
            logger.debug("sending to a closed WebSocket failed", exc_info=True)

    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        return json.dumps(content, ensure_ascii=False)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        generations = list(getattr(self, "generations", ()))
        if not generations:
            return
        if settings.CHAT_ON_DISCONNECT == "finish":
            for generation in generations:
                _detached.add(generation.task)
                generation.task.add_done_callback(_detached.discard)
            return
        for generation in generations:
            generation.stop.set()
        # Stopped turns store their partial answer (status "stopped") and give back what they did not use.
        await asyncio.wait([g.task for g in generations], timeout=DISCONNECT_SAVE_SECONDS)
