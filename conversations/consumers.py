"""The chat WebSocket (``/ws``): parses frames (conversations/frames.py), runs turns, renders their events.

The protocol (frames both ways, error and close codes) is documented in docs/websocket-protocol.md. Identity comes
from the authenticated connection only; ``userId``/``userRole`` in frames are ignored. Each generation runs in a
task the connection owns, so frames such as ``stopGeneration`` are handled while an answer streams.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from config.aio import run_io
from config.auth.identity import owner_id
from config.auth.websocket import close_code_for
from config.clock import iso_z, utcnow
from config.errors import ApplicationError, Forbidden, NotAuthenticated, ValidationFailed
from conversations.frames import ClearHistoryFrame, MessageFragments, SendMessageFrame, StopGenerationFrame, frame_parse
from conversations.services import (
    TitleChanged,
    TurnDelta,
    TurnEnded,
    TurnEvent,
    TurnRequest,
    TurnRun,
    TurnStarted,
    conversation_history_clear,
)

logger = logging.getLogger(__name__)

# How long a disconnect waits for stopped generations to store their partial answers (daphne cancels at 10 s).
DISCONNECT_SAVE_SECONDS = 8.0
END_MESSAGE = "응답 생성이 완료되었습니다."
STOPPED_MESSAGE = "응답 생성이 중지되었습니다."
CLEARED_MESSAGE = "대화 기록이 초기화되었습니다."

# Generations that outlive their connection (CHAT_ON_DISCONNECT=finish): referenced here until they end.
_detached: set[asyncio.Task] = set()


@dataclass(eq=False)
class Generation:
    turn: TurnRun
    conversation_id: str | None
    task: asyncio.Task | None = None


def _timestamp() -> str:
    return iso_z(utcnow(), timespec="auto")


def _invalid(message: str, code: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, **extra)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.generations: set[Generation] = set()
        self.fragments = MessageFragments()
        self.closed = False
        user = self.scope.get("user")
        # Accept first, then close: a close code only reaches the client after the handshake.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self._refuse(
                self.scope.get("auth_error") or NotAuthenticated("Authentication required: sign in, or pass a token.")
            )
            return
        if not getattr(user, "is_active", True):
            await self._refuse(Forbidden("This account is disabled."))
            return
        self.user_id = owner_id(user)
        self.is_staff = bool(getattr(user, "is_staff", False))

    async def _refuse(self, error: ApplicationError) -> None:
        frame = {"type": "error", **error.as_dict(), "message": error.message, "retryable": error.retryable}
        await self.send_json(frame)
        self.closed = True
        await self.close(code=close_code_for(error))

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
        message = frame.get("message")
        if frame.get("chunkInfo") is not None:
            message = self.fragments.add(frame)
            if message is None:
                return  # more fragments to come
        values = frame_parse(SendMessageFrame, {**frame, "message": message})
        request = TurnRequest(
            user_id=self.user_id,
            is_staff=self.is_staff,
            engine_type=values["engineType"],
            message=values["message"],
            conversation_id=values["conversationId"],
            idempotency_key=values["idempotencyKey"],
        )
        generation = Generation(turn=TurnRun(request), conversation_id=request.conversation_id)
        generation.task = asyncio.create_task(self._generate(generation))
        self.generations.add(generation)
        generation.task.add_done_callback(lambda _task: self.generations.discard(generation))

    async def _stop_generation(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_parse(StopGenerationFrame, frame)["conversationId"]
        running = [g for g in self.generations if g.conversation_id == conversation_id and not g.turn.stop_requested]
        if not running:
            raise ApplicationError(
                "No answer is being generated for this conversation on this connection.",
                code="no_active_generation",
                conversationId=conversation_id,
            )
        for generation in running:
            generation.turn.stop()  # the turn closes the model stream and ends with chat_end {stopped: true}

    async def _clear_history(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_parse(ClearHistoryFrame, frame)["conversationId"]
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

    async def _generate(self, generation: Generation) -> None:
        async def emit(event: TurnEvent) -> None:
            if isinstance(event, TurnStarted):
                generation.conversation_id = event.conversation_id
            await self._send(self._render(event))

        try:
            await generation.turn.run(emit)
        except ApplicationError as exc:
            await self._send_error(exc, conversationId=generation.conversation_id)
        except Exception:
            logger.exception("turn failed for user %s", self.user_id)
            await self._send_error(
                ApplicationError("The message could not be processed.", code="internal_error", retryable=True),
                conversationId=generation.conversation_id,
            )

    @staticmethod
    def _render(event: TurnEvent) -> dict[str, Any]:
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
        tasks = [generation.task for generation in getattr(self, "generations", ())]
        if not tasks:
            return
        if settings.CHAT_ON_DISCONNECT == "finish":
            for task in tasks:
                _detached.add(task)
                task.add_done_callback(_detached.discard)
            return
        for task in tasks:
            task.cancel()  # each turn stores its partial answer (status "stopped") and gives back what it did not use
        await asyncio.wait(tasks, timeout=DISCONNECT_SAVE_SECONDS)
