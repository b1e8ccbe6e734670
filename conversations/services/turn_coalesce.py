"""Coalescing a model stream's text deltas when the process falls behind (``CHAT_COALESCE_MAX_DELAY_MS``).

Every frame costs the server the same whatever its size (JSON encoding, the channel send, a WebSocket frame), so
when the loop is late the cheapest way to keep up is to send fewer, larger ``ai_chunk`` frames. Nothing is
coalesced while the process keeps up: a delta that is taken as soon as it arrives goes out alone.

- While the process keeps up (the loop runs its timers less than ``BEHIND_AFTER_SECONDS`` late), every delta
  goes out alone, as soon as it is read.
- While it is behind, a delta of a stream that sends faster than ``max_delay`` is held until ``max_delay`` after
  it arrived and sent with every delta read meanwhile: deltas the stream had buffered come at once, so a late
  loop sends one frame for all of them. A slower stream gains nothing from waiting and is not held.
- Whenever the loop is late, every delta that is already waiting joins the chunk (a pull that completes without
  suspending, ``config.aio.anext_now``: no turn of the loop), held or not. The later the loop, the larger the
  frames: a process that cannot send one frame per delta still delivers the text at the model's pace.
- ``max_delay <= 0`` turns coalescing off: one frame per delta, as the model sent them.

Text and its order are never changed, and the frames are numbered here, once, at the producer: the chunk index
of a frame is the same whether it is sent live or replayed.
"""

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from config.aio import anext_now
from config.bedrock.client import ModelEvent, TextDelta

# A loop that runs its timers later than this is busy (an idle loop is late by microseconds): the process is behind.
BEHIND_AFTER_SECONDS = 0.005
LAG_SAMPLE_SECONDS = 0.01


@dataclass(frozen=True)
class Chunk:
    """One ``ai_chunk`` worth of text: ``index`` counts the turn's chunks from 0."""

    index: int
    text: str


class DeltaCoalescer:
    """The decisions, on an explicit clock (so they can be tested on a simulated one).

    ``offer`` a delta the turn has taken (with the time it arrived), ask ``hold_until(now)`` whether to wait for
    more (``None``: send now), then ``take()`` the chunk.
    """

    def __init__(self, max_delay: float, behind_after: float = BEHIND_AFTER_SECONDS) -> None:
        self.max_delay = max_delay
        self.behind_after = behind_after
        self._texts: list[str] = []
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._fast = False
        self._late = False
        self._next_index = 0

    @property
    def pending(self) -> bool:
        return bool(self._texts)

    @property
    def late(self) -> bool:
        """Whether the pending chunk was taken while the loop is late: deltas already waiting then join it, with
        no hold (the stream's pace, which the loop's lateness hides, does not matter for what is waiting)."""
        return self.max_delay > 0 and bool(self._texts) and self._late

    def offer(self, text: str, arrived_at: float, now: float) -> None:
        if not self._texts:
            self._first_at = arrived_at
            # Holding pays only for a stream that sends faster than max_delay: with slower deltas nothing would
            # join, and the wait would cost the busy loop a timer for nothing.
            self._fast = self._last_at is not None and arrived_at - self._last_at < self.max_delay
            self._late = now - arrived_at > self.behind_after
        self._last_at = arrived_at
        self._texts.append(text)

    def joins(self) -> bool:
        """Whether deltas already waiting may join the pending one (coalescing is on)."""
        return self.max_delay > 0

    def hold_until(self, now: float) -> float | None:
        """When to send the pending text at the latest, if the turn should wait for more; ``None``: send now."""
        if not (self.late and self._fast):
            return None
        deadline = self._first_at + self.max_delay
        return deadline if now < deadline else None

    def take(self) -> Chunk:
        chunk = Chunk(self._next_index, "".join(self._texts))
        self._next_index += 1
        self._texts, self._first_at, self._fast, self._late = [], None, False, False
        return chunk


class LoopLag:
    """How late this loop runs a timer, sampled every ``LAG_SAMPLE_SECONDS`` by one self-rescheduling timer
    handle per loop (no task): the process-wide "behind" signal, at about a hundred callbacks a second."""

    _by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLag]" = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.seconds = 0.0
        self._schedule()

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> "LoopLag":
        lag = cls._by_loop.get(loop)
        if lag is None:
            lag = cls._by_loop[loop] = cls(loop)
        return lag

    def _schedule(self) -> None:
        due = self.loop.time() + LAG_SAMPLE_SECONDS
        self.loop.call_at(due, self._tick, due)

    def _tick(self, due: float) -> None:
        self.seconds = self.loop.time() - due
        self._schedule()


async def chunks_coalesced(events: AsyncIterator[ModelEvent], *, max_delay: float) -> AsyncIterator[Chunk | ModelEvent]:
    """``events`` with their text deltas as numbered ``Chunk``s, merged as described above; other events as
    they are. The model stream is closed however this ends (cancelled, closed early, failed).

    While the loop keeps up, events are pulled one by one with no task of their own. While it is behind, the
    next pull runs as a task the chunk waits for until its deadline; one still running then is kept for the next
    chunk, never cancelled (cancelling it would close the stream).
    """
    coalescer = DeltaCoalescer(max_delay)
    loop = asyncio.get_running_loop()
    lag = LoopLag.of(loop) if coalescer.joins() else None
    ahead: asyncio.Task | None = None
    try:
        while True:
            try:
                event = await (ahead if ahead is not None else anext(events))
            except StopAsyncIteration:
                return
            finally:
                ahead = None
            if not isinstance(event, TextDelta):
                yield event
                continue
            now = loop.time()
            coalescer.offer(event.text, now - (lag.seconds if lag else 0.0), now)
            while (until := coalescer.hold_until(loop.time())) is not None or coalescer.late:
                ahead = anext_now(events)  # a delta already waiting joins now, with no turn of the loop
                if not ahead.done() and until is not None:
                    await asyncio.wait({ahead}, timeout=until - loop.time())
                if not ahead.done():
                    break  # sent now; that pull goes on for the next chunk
                if ahead.exception() is not None or not isinstance(ahead.result(), TextDelta):
                    break  # a stop, usage, end or error goes after the text before it
                coalescer.offer(ahead.result().text, loop.time(), loop.time())
                ahead = None
            yield coalescer.take()
    finally:
        if ahead is not None:
            ahead.cancel()  # cancelling the pull cancels the model stream, which closes it
            await asyncio.wait({ahead})
        await events.aclose()
