"""One chat turn, the use case the WebSocket consumer runs: a user message in, a streamed, stored answer out.

``TurnRun.run(emit)`` goes through the steps and hands each event to ``emit`` as it happens:

1. ``turn_begin`` (turn_begin.py): the history Query and the begin transaction (claims, engine revision, quota);
2. the model stream, read on the event loop in a child task (turn_coalesce.py numbers and merges its deltas);
3. ``turn_finish`` (turn_finish.py): the finish transaction (answer, releases, settlement), before ``TurnEnded``;
4. for a new conversation, its title (titles.py).

Stopping is cancelling. ``stop()`` cancels the child task reading the model: the stream is closed (Bedrock stops
generating), and the turn stores what it has as ``stopped`` and ends normally (``interrupt()``, for a draining
server, the same as ``interrupted``). Cancelling the task running ``run`` stores the same way, then lets the
cancellation through. While the model streams, a heartbeat checkpoints the answer and renews the turn's lease
(turn_checkpoints.py); storing the answer rides out a short DynamoDB outage (``CHAT_FINISH_RETRY_SECONDS``), then
fails with ``answer_not_saved`` and leaves the turn to be recovered from its last checkpoint (turn_recovery.py).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from config.aio import cancel_deliver, run_io
from config.bedrock.client import ModelRequest, StreamStop, StreamUsage, model_backend
from config.errors import ApplicationError, UpstreamUnavailable
from config.retrying import retry_while_unavailable
from conversations.services.titles import conversation_title_generate
from conversations.services.turn_begin import turn_begin
from conversations.services.turn_checkpoints import turn_checkpoint, turn_lease_renew
from conversations.services.turn_coalesce import Chunk, chunks_coalesced
from conversations.services.turn_events import TitleChanged, TurnDelta, TurnEnded, TurnEvent, TurnStarted
from conversations.services.turn_finish import turn_finish
from conversations.services.turn_replay import turn_replay_events
from conversations.services.turn_types import Turn, TurnAttach, TurnOutcome, TurnReplay, TurnRequest

logger = logging.getLogger(__name__)

Emit = Callable[[TurnEvent], Awaitable[None]]


@dataclass
class _Answer:
    """What the model has said so far."""

    parts: list[str] = field(default_factory=list)
    stop_reason: str | None = None
    usage: StreamUsage | None = None

    def outcome(self, status: str, error: ApplicationError | None = None) -> TurnOutcome:
        content = "".join(self.parts)
        return TurnOutcome(status=status, content=content, stop_reason=self.stop_reason, usage=self.usage, error=error)


def _interrupted(turn: Turn) -> TurnOutcome:
    return TurnOutcome(status="error", error=turn.refusal) if turn.refusal else TurnOutcome(status="stopped")


async def _model_read(request: ModelRequest, emit: Emit, answer: _Answer) -> None:
    """Read the model's stream into ``answer``, emitting its text as numbered chunks (coalesced while the process
    is behind, ``CHAT_COALESCE_MAX_DELAY_MS``); the stream is closed however this ends, so a cancel (stop) makes
    Bedrock stop generating. No thread waits here: the stream is read on the loop."""
    chunks = chunks_coalesced(model_backend().stream(request), max_delay=settings.CHAT_COALESCE_MAX_DELAY_MS / 1000)
    async with contextlib.aclosing(chunks):
        async for event in chunks:
            if isinstance(event, Chunk):
                answer.parts.append(event.text)
                await emit(TurnDelta(text=event.text, index=event.index))
                await cancel_deliver()  # a stop during emit holds, and now: the next chunk may need no pause
            elif isinstance(event, StreamStop):
                answer.stop_reason = event.stop_reason
            elif isinstance(event, StreamUsage):
                answer.usage = event


def _with_context(error: ApplicationError, **context: Any) -> ApplicationError:
    error.extra.update({key: value for key, value in context.items() if value is not None})
    return error


def _answer_not_saved() -> ApplicationError:
    return UpstreamUnavailable(
        _("The answer could not be saved; it is kept as interrupted once storage is back. Read the conversation."),
        code="answer_not_saved",
    )


class TurnRun:
    """One turn. Errors are raised as ``ApplicationError`` (after whatever was begun is stored), with
    ``conversationId`` and, once the answer exists, ``messageId`` in their ``extra``."""

    def __init__(self, request: TurnRequest) -> None:
        self.request = request
        self.stop_requested = False
        self.stop_status = "stopped"
        self._reading: asyncio.Task | None = None

    def stop(self, status: str = "stopped") -> None:
        """End the generation now; the answer so far is stored as ``status`` and ``TurnEnded`` still follows."""
        self.stop_requested, self.stop_status = True, status
        if self._reading is not None:
            self._reading.cancel()

    def interrupt(self) -> None:
        """Stop for a server shutting down: the answer so far is stored ``interrupted``."""
        self.stop("interrupted")

    async def run(self, emit: Emit) -> TurnAttach | None:
        """Run the turn, emitting its events; a resend of a turn still running returns it to attach to instead."""
        begun = await self._begin()
        if isinstance(begun, TurnAttach):
            return begun
        if isinstance(begun, TurnReplay):
            for event in turn_replay_events(begun, engine_type=self.request.engine_type):
                await emit(event)
            return None
        turn, answer = begun, _Answer()
        ids = {
            "conversation_id": turn.conversation_id,
            "engine_type": self.request.engine_type,
            "user_message_id": turn.user_message_id,
            "assistant_message_id": turn.assistant_message_id,
            "model_id": turn.config.model_id,
        }
        try:
            if turn.refusal is not None:
                raise turn.refusal
            await emit(TurnStarted(**ids))
            stopped = await self._generated_stopped(turn, emit, answer)
            outcome = answer.outcome(self.stop_status if stopped else "complete")
        except ApplicationError as exc:
            outcome = answer.outcome("error", error=exc)
        except asyncio.CancelledError:
            await self._finish(turn, answer.outcome(self.stop_status))
            raise
        outcome = await self._finish(turn, outcome)
        if outcome.error is not None:
            raise _with_context(
                outcome.error, conversationId=turn.conversation_id, messageId=turn.assistant_message_id
            ) from None
        await emit(
            TurnEnded(
                **ids,
                status=outcome.status,
                stop_reason=outcome.stop_reason,
                content=outcome.content,
                chunks=len(answer.parts),
                usage=outcome.usage or StreamUsage(),
                usage_estimated=outcome.usage_estimated,
                cost_usd=outcome.cost_usd,
            )
        )
        if not turn.history and outcome.content:
            title = await run_io(
                conversation_title_generate,
                user_id=self.request.user_id,
                conversation_id=turn.conversation_id,
                engine_type=self.request.engine_type,
                message=self.request.message,
                is_staff=self.request.is_staff,
            )
            if title is not None:
                await emit(TitleChanged(conversation_id=turn.conversation_id, title=title[0], source=title[1]))
        return None

    async def _finish(self, turn: Turn, outcome: TurnOutcome) -> TurnOutcome:
        """``turn_finish``, retried through a short DynamoDB outage; after that, ``answer_not_saved`` (the turn's
        lease then runs out and its next touch recovers it from the last checkpoint)."""
        try:
            return await retry_while_unavailable(
                lambda: run_io(turn_finish, turn=turn, outcome=outcome), within=settings.CHAT_FINISH_RETRY_SECONDS
            )
        except Exception as exc:
            logger.exception("the answer of turn %s could not be stored", turn.turn_id)
            raise _with_context(
                _answer_not_saved(), conversationId=turn.conversation_id, messageId=turn.assistant_message_id
            ) from exc

    async def _begin(self) -> Turn | TurnReplay | TurnAttach:
        """``turn_begin`` in the I/O pool. A cancel waits for it to end, so a begun turn is always finished."""
        begin = asyncio.ensure_future(run_io(turn_begin, request=self.request))
        try:
            return await asyncio.shield(begin)
        except asyncio.CancelledError:
            await asyncio.wait({begin})
            if not begin.cancelled() and begin.exception() is None and isinstance(begin.result(), Turn):
                await run_io(turn_finish, turn=begin.result(), outcome=_interrupted(begin.result()))
            raise

    async def _generated_stopped(self, turn: Turn, emit: Emit, answer: _Answer) -> bool:
        """Read the model in a child task, checkpointing beside it; True if ``stop()`` cancelled it."""
        self._reading = asyncio.create_task(_model_read(turn.model_request, emit, answer))
        heartbeat = asyncio.create_task(_heartbeat(turn, answer))
        if self.stop_requested:
            self._reading.cancel()
        try:
            await self._reading
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # the whole turn is being cancelled, not just its generation
            return True
        finally:
            heartbeat.cancel()
        return False


async def _heartbeat(turn: Turn, answer: _Answer) -> None:
    """Checkpoint the answer every ``CHAT_CHECKPOINT_SECONDS`` while the model streams (which renews the turn's
    lease), and renew the conversation's own lease once a third of it has passed."""
    loop = asyncio.get_running_loop()
    renewed = loop.time()
    while True:
        await asyncio.sleep(settings.CHAT_CHECKPOINT_SECONDS)
        try:
            if not await run_io(turn_checkpoint, turn=turn, content="".join(answer.parts)):
                return  # the turn was recovered as dead: its answer is stored again when it ends
            if loop.time() - renewed >= settings.CHAT_TURN_LEASE_SECONDS / 3:
                renewed = loop.time()
                await run_io(turn_lease_renew, turn=turn)
        except Exception:
            logger.warning("checkpointing turn %s failed; the next beat tries again", turn.turn_id, exc_info=True)
