"""The generations of this server process: each turn runs as a task owned here, not by the socket that asked.

A turn's events go to its conversation's Channels group (``conversation_group``): every socket of the user that
sent on, resumed or followed the conversation is in it, on whichever process it is connected to. Before an event is
published it is written to the replay log (``config.streams``), so a socket that subscribes first and reads the
log second misses nothing; chunks carry the index the turn gave them, so copies are recognised. A stop is a
message to the turn's stop group, which the owning process's listener turns into ``TurnRun.stop()`` (cancelling
its model read, the one stop mechanism). Messages on the layer are plain data (``turn_event_dump``).
"""

import asyncio
import hashlib
import logging
import weakref
from dataclasses import replace
from typing import Any

from channels.layers import get_channel_layer

from config import lifecycle
from config.aio import cancel_surely, run_io
from config.errors import ApplicationError, NotFound, UpstreamUnavailable
from config.outages import unexpected_error
from config.streams import Replay, replay_log
from conversations.ids import new_conversation_id
from conversations.selectors import conversation_get
from conversations.services.turn_events import TurnDelta, TurnEnded, TurnEvent, TurnStarted, turn_event_dump
from conversations.services.turn_recovery import turn_recover, turn_running
from conversations.services.turn_run import TurnRun
from conversations.services.turn_types import TurnRequest

logger = logging.getLogger(__name__)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def conversation_group(*, user_id: str, conversation_id: str) -> str:
    """The Channels group of one user's conversation (group names allow only a few characters, hence the hash)."""
    return f"chat.c.{_digest(user_id, conversation_id)}"


def _stop_group(user_id: str, conversation_id: str) -> str:
    return f"chat.s.{_digest(user_id, conversation_id)}"


def _log_key(user_id: str, conversation_id: str) -> str:
    return _digest(user_id, conversation_id)


def server_restarting() -> ApplicationError:
    return UpstreamUnavailable("The server is restarting; reconnect and send again.", code="server_restarting")


def no_active_generation(conversation_id: str) -> ApplicationError:
    return ApplicationError(
        "No answer is being generated for this conversation.",
        code="no_active_generation",
        conversationId=conversation_id,
    )


def error_dump(error: ApplicationError) -> dict[str, Any]:
    return {
        "message": str(error.message),  # a lazy translation: rendered in the sender's language
        "code": error.code,
        "status": error.status,
        "retryable": error.retryable,
        "extra": error.extra,
    }


class _Registry:
    """This loop's running turns by stop group, and the one channel that receives stops for all of them."""

    def __init__(self) -> None:
        self.runs: dict[str, TurnRun] = {}
        self.channel: str | None = None
        self._listener: asyncio.Task | None = None

    async def stop_channel(self) -> str:
        if self.channel is None:
            # The layer's default prefix: channels_redis receives every channel of a process through one key.
            self.channel = await get_channel_layer().new_channel()
            self._listener = asyncio.create_task(self._listen(self.channel))
        return self.channel

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                message = await cancel_surely(layer.receive(channel))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("receiving generation stops failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            run = self.runs.get(message.get("group", ""))
            if message.get("type") == "generation.stop" and run is not None:
                run.stop()


_registries: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registry]" = weakref.WeakKeyDictionary()


def _registry() -> _Registry:
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = _Registry()
    return registry


class _Producer:
    """Publishes one turn's events: to the replay log first, then to the conversation's group; a replay of a
    finished turn, and an error before the turn began, only to the socket that sent it."""

    def __init__(self, run: TurnRun, reply_channel: str) -> None:
        request = run.request
        self.run = run
        self.reply_channel = reply_channel
        self.user_id, self.conversation_id = request.user_id, request.conversation_id or ""
        self.started = False
        self.direct = False
        self.message_id = ""

    async def _safely(self, what: str, call: Any) -> None:
        # The answer is stored whatever happens to its listeners: a failing Redis costs frames, never the answer.
        try:
            await call
        except Exception:
            logger.warning("%s for conversation %s failed", what, self.conversation_id, exc_info=True)

    async def emit(self, event: TurnEvent) -> None:
        layer = get_channel_layer()
        if isinstance(event, TurnStarted):
            self.conversation_id, self.message_id = event.conversation_id, event.assistant_message_id
            self.direct = event.replayed
        envelope = {
            "type": "chat.event",
            "conversationId": self.conversation_id,
            "messageId": self.message_id,
            "event": turn_event_dump(event),
        }
        if self.direct:
            await self._safely("replying", layer.send(self.reply_channel, {**envelope, "type": "chat.direct"}))
            return
        log, key = replay_log(), _log_key(self.user_id, self.conversation_id)
        if isinstance(event, TurnStarted):
            self.started = True
            await self._safely("logging", log.start(key, envelope))
            registry = _registry()
            stop_group = _stop_group(self.user_id, self.conversation_id)
            registry.runs[stop_group] = self.run
            await self._safely("subscribing to stops", layer.group_add(stop_group, await registry.stop_channel()))
        elif isinstance(event, TurnDelta):
            await self._safely("logging", log.append(key, event.index, envelope))
        elif isinstance(event, TurnEnded):
            await self._safely("logging", log.end(key, envelope))
        await self._safely("publishing", layer.group_send(self._group(), envelope))

    def _group(self) -> str:
        return conversation_group(user_id=self.user_id, conversation_id=self.conversation_id)

    async def fail(self, error: ApplicationError) -> None:
        conversation_id = error.extra.get("conversationId") or self.conversation_id
        envelope = {
            "type": "chat.error",
            "conversationId": conversation_id,
            "messageId": self.message_id if self.started else "",  # the followed answer it ends, if any
            "error": error_dump(error),
        }
        layer = get_channel_layer()
        if not self.started:
            await self._safely("replying", layer.send(self.reply_channel, envelope))
            return
        await self._safely("logging", replay_log().end(_log_key(self.user_id, self.conversation_id), envelope))
        await self._safely("publishing", layer.group_send(self._group(), envelope))

    async def produce(self) -> None:
        layer = get_channel_layer()
        try:
            attach = await self.run.run(self.emit)
            if attach is not None:
                message = {"type": "chat.attach", "conversationId": attach.conversation_id}
                await self._safely("replying", layer.send(self.reply_channel, message))
        except ApplicationError as exc:
            await self.fail(exc)
        except Exception as exc:  # an outage gets its retryable code (as REST's 503), anything else internal_error
            await self.fail(unexpected_error(exc, what=f"the turn of user {self.user_id}"))
        finally:
            if self.started:
                stop_group = _stop_group(self.user_id, self.conversation_id)
                registry = _registry()
                if registry.runs.get(stop_group) is self.run:
                    del registry.runs[stop_group]
                    if registry.channel is not None:
                        await self._safely("unsubscribing", layer.group_discard(stop_group, registry.channel))


async def generation_start(*, request: TurnRequest, reply_channel: str) -> tuple[str, asyncio.Task]:
    """Start the turn in this process; ``reply_channel`` (the sender's) joins the conversation's group first.
    Returns the conversation id (made up here for a new conversation) and the turn's task."""
    if lifecycle.draining():
        raise server_restarting()
    if request.conversation_id is None:
        request = replace(request, conversation_id=new_conversation_id(), conversation_new=True)
    group = conversation_group(user_id=request.user_id, conversation_id=request.conversation_id)
    await get_channel_layer().group_add(group, reply_channel)
    run = TurnRun(request)
    task = asyncio.create_task(_Producer(run, reply_channel).produce())
    lifecycle.work_track(task, interrupt=run.interrupt)
    return request.conversation_id, task


async def generation_stop(*, user_id: str, conversation_id: str) -> None:
    """Stop the conversation's running answer, on whichever process runs it."""
    group = _stop_group(user_id, conversation_id)
    local = _registry().runs.get(group)
    if local is not None:
        local.stop()
        return
    try:
        conversation = await run_io(conversation_get, user_id=user_id, conversation_id=conversation_id)
    except NotFound:
        raise no_active_generation(conversation_id) from None
    if not await run_io(turn_running, conversation=conversation):
        raise no_active_generation(conversation_id)
    await get_channel_layer().group_send(group, {"type": "generation.stop", "group": group})


async def generation_recover(*, user_id: str, conversation_id: str) -> bool:
    """Recover the conversation's turn if its worker died, and tell its followers it ended ``interrupted``."""
    ended = await run_io(turn_recover, user_id=user_id, conversation_id=conversation_id)
    if ended is None:
        return False
    envelope = {
        "type": "chat.event",
        "conversationId": conversation_id,
        "messageId": ended.assistant_message_id,
        "event": turn_event_dump(ended),
    }
    key = _log_key(user_id, conversation_id)
    replay = await replay_log().read(key, after=-1)
    if replay is not None and replay.start.get("messageId") == ended.assistant_message_id and replay.end is None:
        await replay_log().end(key, envelope)
    group = conversation_group(user_id=user_id, conversation_id=conversation_id)
    await get_channel_layer().group_send(group, envelope)
    return True


async def generation_replay(*, user_id: str, conversation_id: str, after: int) -> Replay | None:
    """What the replay log holds of the conversation's current (or just finished) answer after chunk ``after``."""
    return await replay_log().read(_log_key(user_id, conversation_id), after=after)
