"""Coalescing text deltas (conversations/services/turn_coalesce.py): every byte of text in order, sequential chunk
indexes, and the delay it adds bounded by ``max_delay``, on a simulated clock and on the real loop."""

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.bedrock.events import ModelError, StreamStop, StreamUsage, TextDelta, model_error
from conversations.services.turn_coalesce import Chunk, DeltaCoalescer, LoopLag, chunks_coalesced

texts = st.text(min_size=1, max_size=6)  # any Unicode, as the model may send it
gaps = st.floats(min_value=0.0, max_value=0.2, allow_nan=False)
costs = st.floats(min_value=0.0, max_value=0.3, allow_nan=False)  # time the writer is busy sending one frame


def simulate(arrivals: list[tuple[float, str]], cost: list[float], max_delay: float, behind_after: float):
    """The reader loop of ``chunks_coalesced`` on a simulated clock: the turn takes the next delta when it is free
    (or when it arrives), sleeps while ``hold_until`` says so, joins what is waiting by then, and is busy sending
    for ``cost``. Returns (chunk, sent at, first delta taken at, first delta arrived at) per frame."""
    coalescer = DeltaCoalescer(max_delay, behind_after)
    frames, now, i = [], 0.0, 0
    while i < len(arrivals):
        now = max(now, arrivals[i][0])
        taken_at, first_arrived = now, arrivals[i][0]
        coalescer.offer(arrivals[i][1], arrivals[i][0], now)
        i += 1
        until = coalescer.hold_until(now)
        if until is not None:
            now = until
        while coalescer.joins() and i < len(arrivals) and arrivals[i][0] <= now:  # waiting by then
            coalescer.offer(arrivals[i][1], arrivals[i][0], now)
            i += 1
        frames.append((coalescer.take(), now, taken_at, first_arrived))
        now += cost[(len(frames) - 1) % len(cost)]
    return frames


def timeline(deltas: list[tuple[float, str]]) -> list[tuple[float, str]]:
    at, out = 0.0, []
    for gap, text in deltas:
        at += gap
        out.append((at, text))
    return out


@settings(max_examples=200, deadline=None)
@given(
    deltas=st.lists(st.tuples(gaps, texts), min_size=1, max_size=40),
    cost=st.lists(costs, min_size=1, max_size=5),
    max_delay=st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    behind_after=st.sampled_from([0.0, 0.005, 0.05]),
)
def test_text_order_indexes_and_the_delay_bound_hold_on_a_simulated_clock(deltas, cost, max_delay, behind_after):
    arrivals = timeline(deltas)

    frames = simulate(arrivals, cost, max_delay, behind_after)

    assert "".join(chunk.text for chunk, *_ in frames) == "".join(text for _, text in arrivals)
    assert [chunk.index for chunk, *_ in frames] == list(range(len(frames)))
    assert all(chunk.text for chunk, *_ in frames)
    for _, sent_at, taken_at, first_arrived in frames:
        # Coalescing never holds text past max_delay after its frame's first delta arrived, and adds at most
        # max_delay to when the writer could have sent it anyway.
        assert sent_at <= max(taken_at, first_arrived + max_delay) + 1e-9
        assert sent_at - taken_at <= max_delay + 1e-9
    if max_delay == 0:
        assert [chunk.text for chunk, *_ in frames] == [text for _, text in arrivals]


def test_a_writer_that_keeps_up_sends_one_frame_per_delta():
    arrivals = timeline([(0.05, "a"), (0.05, "b"), (0.05, "c")])

    frames = simulate(arrivals, [0.001], max_delay=0.05, behind_after=0.005)

    assert [chunk for chunk, *_ in frames] == [Chunk(0, "a"), Chunk(1, "b"), Chunk(2, "c")]


def test_a_writer_that_falls_behind_merges_what_waits_and_holds_at_most_max_delay():
    arrivals = timeline([(0.0, "a"), (0.01, "b"), (0.01, "c"), (0.01, "d"), (0.2, "e")])

    frames = simulate(arrivals, [0.025], max_delay=0.05, behind_after=0.005)

    assert [chunk.text for chunk, *_ in frames] == ["a", "bcd", "e"]
    _, sent_at, taken_at, first_arrived = frames[1]
    assert (taken_at, first_arrived) == pytest.approx((0.025, 0.01))
    assert sent_at == pytest.approx(0.06)  # held until 0.01 + 0.05, not longer


async def source(events, pauses):
    """A model stream: ``events`` with ``pauses[i]`` loop turns (asyncio.sleep(0)) before event i."""
    for index, event in enumerate(events):
        for _ in range(pauses[index % len(pauses)]):
            await asyncio.sleep(0)
        if isinstance(event, BaseException):
            raise event
        yield event


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.lists(texts, min_size=1, max_size=30),
    pauses=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    writer_turns=st.lists(st.integers(0, 4), min_size=1, max_size=5),
    max_delay=st.sampled_from([0.0, 0.001, 0.05]),
)
def test_on_the_real_loop_text_and_order_are_kept_and_the_stop_and_usage_come_last(
    pieces, pauses, writer_turns, max_delay
):
    events = [*(TextDelta(p) for p in pieces), StreamStop("end_turn"), StreamUsage(output_tokens=len(pieces))]

    async def read():
        out = []
        async for item in chunks_coalesced(source(events, pauses), max_delay=max_delay):
            out.append(item)
            for _ in range(writer_turns[len(out) % len(writer_turns)]):  # a slow socket: the writer falls behind
                await asyncio.sleep(0)
        return out

    out = asyncio.run(read())

    chunks = [item for item in out if isinstance(item, Chunk)]
    assert "".join(c.text for c in chunks) == "".join(pieces)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert out[len(chunks) :] == events[-2:]
    if max_delay == 0:
        assert [c.text for c in chunks] == pieces


async def busy_loop(stop: asyncio.Event) -> None:
    """Keeps the loop late: blocks it for 20 ms at a time (as a loaded server's many sockets do)."""
    while not stop.is_set():
        time.sleep(0.02)  # noqa: ASYNC251  (the point: a loop blocked by work)
        await asyncio.sleep(0)


async def coalesced_beside_a_busy_loop(model, *, max_delay: float) -> list:
    """``chunks_coalesced`` read while ``busy_loop`` keeps the loop about 20 ms late, once the lag is sampled."""
    LoopLag.of(asyncio.get_running_loop())  # sampling from now on, as it is once a process's first turn ran
    stop = asyncio.Event()
    hog = asyncio.create_task(busy_loop(stop))
    await asyncio.sleep(0.05)  # the lag is sampled: let it see the busy loop
    try:
        return [item async for item in chunks_coalesced(model, max_delay=max_delay)]
    finally:
        stop.set()
        await hog


async def test_a_busy_loop_sends_the_deltas_read_meanwhile_as_one_chunk():
    async def quick_model():
        for text in "abcdefghij":
            await asyncio.sleep(0.001)
            yield TextDelta(text)

    out = await coalesced_beside_a_busy_loop(quick_model(), max_delay=0.2)

    assert "".join(c.text for c in out) == "abcdefghij"
    assert len(out) < 10
    assert [c.index for c in out] == list(range(len(out)))


async def test_a_loop_later_than_max_delay_still_joins_the_deltas_already_waiting():
    async def buffered_model():  # every delta already waiting, as on the connection of a late reader
        for text in "abcdefghij":
            yield TextDelta(text)

    out = await coalesced_beside_a_busy_loop(buffered_model(), max_delay=0.01)  # later than max_delay: no hold

    assert "".join(c.text for c in out) == "abcdefghij"
    assert len(out) <= 3  # the first delta alone (no pace known yet), then what was waiting, not ten frames
    assert [c.index for c in out] == list(range(len(out)))


async def test_an_idle_loop_sends_one_chunk_per_delta():
    async def quick_model():
        for text in "abcdef":
            await asyncio.sleep(0.001)
            yield TextDelta(text)

    out = [item async for item in chunks_coalesced(quick_model(), max_delay=0.2)]

    assert [c.text for c in out] == list("abcdef")


async def test_an_error_after_deltas_comes_after_their_text():
    events = [TextDelta("par"), TextDelta("tial"), model_error("model_error", "boom")]
    out = []

    with pytest.raises(ModelError):
        async for item in chunks_coalesced(source(events, [0]), max_delay=0.05):
            out.append(item)

    assert "".join(c.text for c in out) == "partial"


@pytest.mark.parametrize("max_delay", [0.0, 0.05])
async def test_cancelling_the_reader_closes_the_model_stream(max_delay):
    closed = asyncio.Event()

    async def endless():
        try:
            while True:
                yield TextDelta("x")
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def read():
        async for _ in chunks_coalesced(endless(), max_delay=max_delay):
            pass

    task = asyncio.create_task(read())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert closed.is_set()
