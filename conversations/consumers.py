"""The chat WebSocket (``/ws``): parses frames (conversations/frames.py), runs turns, renders their events.

The protocol (frames both ways, error and close codes) is documented in docs/websocket-protocol.md. Identity comes
from the authenticated connection only; ``userId``/``userRole`` in frames are ignored. A generation belongs to the
server process (conversations/services/generations.py), not to the socket: its events reach every socket in the
conversation's group (``chat_event``), and a socket that (re)attaches reads the replay log first. ``_Follow``
remembers, per conversation, the last chunk this socket sent, so a chunk is sent once, in order, with no gap.
"""

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from config import lifecycle
from config.aio import run_io
from config.auth.identity import owner_id
from config.auth.websocket import close_code_for
from config.clock import iso_z, utcnow
from config.errors import ApplicationError, Forbidden, NotAuthenticated, ValidationFailed
from config.i18n import language_activate
from config.json_input import JsonInputError, json_decode, text_check
from config.outages import unexpected_error
from conversations.frames import (
    ClearHistoryFrame,
    MessageFragments,
    ResumeFrame,
    SendMessageFrame,
    StopGenerationFrame,
    event_frame,
    frame_parse,
)
from conversations.services import (
    TitleChanged,
    TurnDelta,
    TurnEnded,
    TurnRequest,
    TurnStarted,
    conversation_group,
    conversation_history_clear,
    generation_recover,
    generation_replay,
    generation_start,
    generation_stop,
    turn_event_load,
)

logger = logging.getLogger(__name__)

_FRAGMENT_TEXT = frozenset({"message"})

# The close code of a socket the server closes because it is restarting (SIGTERM): reconnect and resume.
RESTARTING_CLOSE_CODE = 1012
CLEARED_MESSAGE = _("The conversation history was cleared.")


@dataclass
class _Follow:
    """The answer of one conversation this socket follows, and the last chunk index it sent of it."""

    message_id: str
    last_index: int = -1


def _timestamp() -> str:
    return iso_z(utcnow(), timespec="auto")


def _invalid(message: str, code: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed(message, code=code, **extra)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels closes stale Django database connections before every handler, one thread hop each. Messages
        # from the layer (a turn's chunks: dozens per answer per socket) touch no Django database; the
        # socket's own events still get it.
        if message["type"].startswith("chat."):
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def connect(self) -> None:
        self.started: dict[str, asyncio.Task] = {}  # the turns this socket sent, by conversation
        self.following: dict[str, _Follow] = {}
        self.groups: set[str] = set()
        self.fragments = MessageFragments()
        self.closed = False
        language_activate(self.scope)  # Accept-Language, for this socket's frames and the tasks it starts
        user = self.scope.get("user")
        # Accept first, then close: a close code only reaches the client after the handshake.
        await self.accept()
        if user is None or not user.is_authenticated:
            refused = NotAuthenticated(_("Authentication required: sign in, or pass a token."))
            await self._refuse(self.scope.get("auth_error") or refused)
            return
        if not getattr(user, "is_active", True):
            await self._refuse(Forbidden(_("This account is disabled.")))
            return
        self.user_id = owner_id(user)
        self.is_staff = bool(getattr(user, "is_staff", False))
        lifecycle.connection_track(self, self._close_restarting)

    async def _refuse(self, error: ApplicationError) -> None:
        frame = {"type": "error", **error.as_dict(), "message": str(error.message), "retryable": error.retryable}
        await self.send_json(frame)
        self.closed = True
        await self.close(code=close_code_for(error))

    # --- frames in --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if self.closed:
            return
        try:
            if text_data is None:
                raise _invalid(_("Binary frames are not supported; send JSON text frames."), "binary_frame")
            if len(text_data.encode("utf-8", "surrogatepass")) > settings.CHAT_MAX_FRAME_BYTES:
                raise _invalid(
                    _("The frame is larger than %(n)d bytes.") % {"n": settings.CHAT_MAX_FRAME_BYTES},
                    "frame_too_large",
                    maxBytes=settings.CHAT_MAX_FRAME_BYTES,
                )
            try:
                frame = json_decode(text_data)
            except JsonInputError as exc:
                raise _invalid(_("The frame is not valid JSON."), "invalid_json", detail=str(exc)) from exc
            if not isinstance(frame, dict):
                raise _invalid(_("A frame must be a JSON object with an action."), "invalid_frame")
            # A fragment's part may start or end inside a surrogate pair: its text is checked once joined.
            text_check(frame, skip=_FRAGMENT_TEXT if frame.get("chunkInfo") is not None else frozenset())
            await self.receive_json(frame)
        except ApplicationError as exc:
            await self._send_error(exc)
        except Exception as exc:  # the socket outlives any bug in handling one frame
            await self._send_error(unexpected_error(exc, what=f"a frame of user {getattr(self, 'user_id', None)}"))

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        # The original treated a frame without an action as sendMessage; kept for its clients.
        action = content.get("action", "sendMessage")
        handlers = {
            "sendMessage": self._send_message,
            "stopGeneration": self._stop_generation,
            "clearHistory": self._clear_history,
            "resume": self._resume,
        }
        handler = handlers.get(action) if isinstance(action, str) else None
        if handler is None:
            shown = {"action": str(action)[:64]}
            raise _invalid(_("Unknown action: %(action)s") % shown, "unknown_action", actions=sorted(handlers))
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
        try:
            conversation_id, task = await generation_start(request=request, reply_channel=self.channel_name)
        except ApplicationError as exc:
            if exc.code != "server_restarting":
                raise
            await self._send_error(exc, conversationId=request.conversation_id)
            await self._close_restarting()
            return
        self.groups.add(conversation_group(user_id=self.user_id, conversation_id=conversation_id))
        self.started[conversation_id] = task

    async def _stop_generation(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_parse(StopGenerationFrame, frame)["conversationId"]
        # Whichever process runs it; every follower then gets its chat_end {stopped: true}.
        await generation_stop(user_id=self.user_id, conversation_id=conversation_id)

    async def _resume(self, frame: dict[str, Any]) -> None:
        values = frame_parse(ResumeFrame, frame)
        await self._follow(values["conversationId"], after=values["afterChunkIndex"], recover=True)

    async def _follow(self, conversation_id: str, *, after: int, recover: bool = False) -> None:
        """Join the conversation's group, then send what the replay log holds after ``after``: frames published
        meanwhile wait in this socket's channel and are sent after, without the chunks sent here."""
        group = conversation_group(user_id=self.user_id, conversation_id=conversation_id)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups.add(group)
        if recover:
            await generation_recover(user_id=self.user_id, conversation_id=conversation_id)
        replay = await generation_replay(user_id=self.user_id, conversation_id=conversation_id, after=after)
        if replay is None or replay.truncated:
            raise ApplicationError(
                _("There is no answer to resume in this conversation; read it over REST."),
                code="nothing_to_resume",
                conversationId=conversation_id,
                truncated=bool(replay and replay.truncated),
            )
        follow = self.following[conversation_id] = _Follow(message_id=replay.start["messageId"], last_index=after)
        await self._send(event_frame(turn_event_load(replay.start["event"]), resumed=True))
        for index, entry in replay.chunks:
            follow.last_index = index
            await self._send(event_frame(turn_event_load(entry["event"])))
        if replay.end is not None:
            await self._deliver_end(replay.end)

    async def _fill(self, conversation_id: str, follow: _Follow, *, through: int) -> None:
        """Send the chunks up to ``through`` this socket missed (a full channel drops messages), from the log."""
        replay = await generation_replay(user_id=self.user_id, conversation_id=conversation_id, after=follow.last_index)
        if replay is None or replay.start.get("messageId") != follow.message_id:
            return
        for index, entry in replay.chunks:
            if index > through:
                break
            follow.last_index = index
            await self._send(event_frame(turn_event_load(entry["event"])))

    # --- what the layer brings: the followed answers' events ------------------------------------

    async def chat_event(self, message: dict[str, Any]) -> None:
        conversation_id, event = message["conversationId"], turn_event_load(message["event"])
        follow = self.following.get(conversation_id)
        if isinstance(event, TurnStarted):
            if follow is None or follow.message_id != event.assistant_message_id:
                self.following[conversation_id] = _Follow(message_id=event.assistant_message_id)
                await self._send(event_frame(event))
            return
        if isinstance(event, TitleChanged):
            await self._send(event_frame(event))
            return
        if follow is None or follow.message_id != message["messageId"]:
            return  # an answer this socket does not follow (it joined after its start without resuming)
        if isinstance(event, TurnDelta):
            if event.index > follow.last_index + 1:
                await self._fill(conversation_id, follow, through=event.index - 1)
            if event.index > follow.last_index:
                follow.last_index = event.index
                await self._send(event_frame(event))
        elif isinstance(event, TurnEnded):
            await self._deliver_end(message)

    async def _deliver_end(self, message: dict[str, Any]) -> None:
        conversation_id = message["conversationId"]
        follow = self.following.pop(conversation_id, None)
        if message["type"] == "chat.error":
            await self.chat_error(message)
            return
        event = turn_event_load(message["event"])
        if follow is not None and event.chunks - 1 > follow.last_index:
            await self._fill(conversation_id, follow, through=event.chunks - 1)
        await self._send(event_frame(event))

    async def chat_direct(self, message: dict[str, Any]) -> None:
        """The stored answer of a finished turn, replayed to the socket that resent it."""
        await self._send(event_frame(turn_event_load(message["event"])))

    async def chat_error(self, message: dict[str, Any]) -> None:
        follow = self.following.get(message["conversationId"])
        if follow is not None and follow.message_id == message.get("messageId"):
            del self.following[message["conversationId"]]  # the followed answer ended with this error
        error = message["error"]
        exc = ApplicationError(
            error["message"], code=error["code"], status=error["status"], retryable=error["retryable"], **error["extra"]
        )
        await self._send_error(exc, conversationId=message["conversationId"])

    async def chat_attach(self, message: dict[str, Any]) -> None:
        """This socket resent the message of a turn still running: it follows that turn from its first chunk."""
        try:
            await self._follow(message["conversationId"], after=-1)
        except ApplicationError as exc:
            await self._send_error(exc)

    async def _clear_history(self, frame: dict[str, Any]) -> None:
        conversation_id = frame_parse(ClearHistoryFrame, frame)["conversationId"]
        await run_io(conversation_history_clear, user_id=self.user_id, conversation_id=conversation_id)
        await self._send(
            {
                "type": "history_cleared",
                "conversationId": conversation_id,
                "message": str(CLEARED_MESSAGE),
                "timestamp": _timestamp(),
            }
        )

    # --- frames out -------------------------------------------------------------------------------

    async def _send_error(self, exc: ApplicationError, **context: Any) -> None:
        body = {**{k: v for k, v in context.items() if v is not None}, **exc.as_dict()}
        frame = {"type": "error", **body, "message": body["error"], "retryable": exc.retryable}
        await self._send({**frame, "timestamp": _timestamp()})

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

    async def _close_restarting(self) -> None:
        """The server is draining: this socket should reconnect (to another process) and resume."""
        if not self.closed:
            self.closed = True
            await self.close(code=RESTARTING_CLOSE_CODE)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        lifecycle.connection_untrack(self)
        for group in getattr(self, "groups", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
        if settings.CHAT_ON_DISCONNECT != "stop":
            return  # the answers go on: stored complete, billed, resumable from any socket
        for conversation_id, task in getattr(self, "started", {}).items():
            if not task.done():
                # Each turn stores its partial answer ("stopped") and tells the other followers.
                with contextlib.suppress(ApplicationError):
                    await generation_stop(user_id=self.user_id, conversation_id=conversation_id)
