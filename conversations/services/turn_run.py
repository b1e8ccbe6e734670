"""One chat turn, the use case the WebSocket consumer runs: a user message in, a streamed, stored answer out.

``TurnRun.run(emit)`` goes through the steps and hands each event to ``emit`` as it happens:

1. ``turn_begin`` (turn_begin.py): the history Query and the begin transaction (claims, engine revision, quota);
2. the model stream, read event by event in a child task (each blocking step in the I/O pool);
3. ``turn_finish`` (turn_finish.py): the finish transaction (answer, releases, settlement), before ``TurnEnded``;
4. for a new conversation, its title (titles.py).

Stopping is cancelling. ``stop()`` cancels the child task reading the model: the stream is closed (Bedrock stops
generating), and the turn stores what it has as ``stopped`` and ends normally. Cancelling the task running
``run`` (the client went away) stores the same way, then lets the cancellation through.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from config.aio import io_pool, run_io
from config.bedrock.client import ModelRequest, StreamStop, StreamUsage, TextDelta, model_backend
from config.errors import ApplicationError
from conversations.services.titles import conversation_title_generate
from conversations.services.turn_begin import turn_begin
from conversations.services.turn_events import TitleChanged, TurnDelta, TurnEnded, TurnEvent, TurnStarted
from conversations.services.turn_finish import turn_finish
from conversations.services.turn_replay import turn_replay_events
from conversations.services.turn_types import Turn, TurnOutcome, TurnReplay, TurnRequest

Emit = Callable[[TurnEvent], Awaitable[None]]

_END = object()


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


def _close_when_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        io_pool().submit(opening.result().close)


async def _model_read(request: ModelRequest, emit: Emit, answer: _Answer) -> None:
    """Read the model's stream into ``answer``, emitting each text delta; the stream is closed however this ends."""
    opening = asyncio.ensure_future(run_io(model_backend().stream, request))
    try:
        stream = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_when_opened)  # a stream that opens after a stop is closed at once
        raise
    try:
        while (event := await run_io(next, stream, _END)) is not _END:
            if isinstance(event, StreamStop):
                answer.stop_reason = event.stop_reason
            elif isinstance(event, StreamUsage):
                answer.usage = event
            elif isinstance(event, TextDelta):
                answer.parts.append(event.text)
                await emit(TurnDelta(text=event.text, index=len(answer.parts) - 1))
    finally:
        await run_io(stream.close)  # closes the HTTP stream: Bedrock stops generating


def _with_context(error: ApplicationError, **context: Any) -> ApplicationError:
    error.extra.update({key: value for key, value in context.items() if value is not None})
    return error


class TurnRun:
    """One turn of one connection. Errors are raised as ``ApplicationError`` (after whatever was begun is stored),
    with ``conversationId`` and, once the answer exists, ``messageId`` in their ``extra``."""

    def __init__(self, request: TurnRequest) -> None:
        self.request = request
        self.stop_requested = False
        self._reading: asyncio.Task | None = None

    def stop(self) -> None:
        """End the generation now; the answer so far is stored as ``stopped`` and ``TurnEnded`` still follows."""
        self.stop_requested = True
        if self._reading is not None:
            self._reading.cancel()

    async def run(self, emit: Emit) -> None:
        begun = await self._begin()
        if isinstance(begun, TurnReplay):
            for event in turn_replay_events(begun, engine_type=self.request.engine_type):
                await emit(event)
            return
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
            outcome = answer.outcome("stopped" if await self._generated_stopped(turn, emit, answer) else "complete")
        except ApplicationError as exc:
            outcome = answer.outcome("error", error=exc)
        except asyncio.CancelledError:
            await run_io(turn_finish, turn=turn, outcome=answer.outcome("stopped"))
            raise
        outcome = await run_io(turn_finish, turn=turn, outcome=outcome)
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

    async def _begin(self) -> Turn | TurnReplay:
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
        """Read the model in a child task; True if ``stop()`` cancelled it."""
        self._reading = asyncio.create_task(_model_read(turn.model_request, emit, answer))
        if self.stop_requested:
            self._reading.cancel()
        try:
            await self._reading
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # the whole turn is being cancelled, not just its generation
            return True
        return False
