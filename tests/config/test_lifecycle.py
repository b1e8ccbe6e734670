"""The drain a SIGTERM starts (config.lifecycle): work within the grace finishes, the rest is interrupted, then
every connection is closed."""

import asyncio

import pytest

from config import lifecycle


@pytest.fixture(autouse=True)
def serving():
    lifecycle.drain_reset()
    yield
    lifecycle.drain_reset()


async def test_work_within_the_grace_finishes_the_rest_is_interrupted_then_connections_close():
    events = []
    stop = asyncio.Event()

    async def short():
        await asyncio.sleep(0.05)
        events.append("short done")

    async def long():
        await stop.wait()
        events.append("long interrupted")

    async def close():
        events.append("closed")

    lifecycle.work_track(asyncio.create_task(short()), interrupt=lambda: events.append("short interrupted"))
    lifecycle.work_track(asyncio.create_task(long()), interrupt=stop.set)
    lifecycle.connection_track(object, close)

    assert not lifecycle.draining()
    finished, interrupted = await lifecycle.drain(0.3)

    assert lifecycle.draining()
    assert (finished, interrupted) == (1, 1)
    assert events == ["short done", "long interrupted", "closed"]  # connections close after the work ends
    lifecycle.connection_untrack(object)
