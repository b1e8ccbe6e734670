"""config.aio's cancel helpers, against the real swallowed cancel of Python 3.11's asyncio.wait_for."""

import asyncio
import sys

import pytest

from config.aio import anext_now, cancel_deliver, cancel_surely


async def _wait_for_that_swallows(started: asyncio.Event, fut: asyncio.Future) -> str:
    """What redis-py does on every socket write: ``wait_for`` on an operation that completes as the cancel lands."""
    started.set()
    return await asyncio.wait_for(fut, timeout=10)


async def _cancel_as_it_completes(task: asyncio.Task, fut: asyncio.Future) -> None:
    fut.set_result("written")  # the write completes ...
    task.cancel()  # ... and the cancel lands in the same loop iteration


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for swallows no cancel from Python 3.12 on")
async def test_the_swallowed_cancel_is_real_on_this_python():
    started, fut = asyncio.Event(), asyncio.get_running_loop().create_future()
    task = asyncio.create_task(_wait_for_that_swallows(started, fut))
    await started.wait()
    await _cancel_as_it_completes(task, fut)
    assert await task == "written"  # the cancel vanished: the reason for the helpers
    assert task.cancelling() == 1


async def test_cancel_deliver_raises_a_cancel_that_an_await_swallowed():
    started, fut = asyncio.Event(), asyncio.get_running_loop().create_future()
    after = []

    async def reader():
        await _wait_for_that_swallows(started, fut)
        await cancel_deliver()
        after.append("read on")  # never: the stop holds

    task = asyncio.create_task(reader())
    await started.wait()
    await _cancel_as_it_completes(task, fut)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled() and after == []


async def test_cancel_deliver_does_nothing_when_no_cancel_was_asked():
    await cancel_deliver()
    assert asyncio.current_task().cancelling() == 0


async def test_cancel_surely_cancels_a_child_that_swallows_cancels_until_it_ends():
    swallowed = []

    async def stubborn_receive():
        # Like channels_redis's receive after redis-py swallowed a cancel: it goes on waiting for a message.
        for _ in range(3):
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed.append(True)
        await asyncio.sleep(10)

    listener = asyncio.create_task(cancel_surely(stubborn_receive()))
    await asyncio.sleep(0.01)
    listener.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(listener, timeout=5)  # one cancel of the caller is enough
    assert len(swallowed) == 3


async def test_cancel_surely_returns_the_result_and_raises_the_error_of_its_awaitable():
    async def value():
        return 7

    async def failing():
        raise ValueError("no")

    assert await cancel_surely(value()) == 7
    with pytest.raises(ValueError, match="no"):
        await cancel_surely(failing())


async def _items(log: list, pauses: dict[int, float]):
    try:
        for i in range(4):
            if i in pauses:
                await asyncio.sleep(pauses[i])
            yield i
    finally:
        log.append("closed")


async def test_anext_now_takes_a_waiting_item_without_a_turn_of_the_loop():
    items = _items([], {})
    turns = []
    asyncio.get_running_loop().call_soon(turns.append, "a turn ran")

    pulled = [anext_now(items) for _ in range(4)]

    assert all(future.done() for future in pulled)
    assert [future.result() for future in pulled] == [0, 1, 2, 3]
    assert turns == []  # nothing else ran: the loop never turned
    end = anext_now(items)
    assert end.done() and isinstance(end.exception(), StopAsyncIteration)


async def test_anext_now_goes_on_with_a_pull_that_suspends():
    items = _items([], {1: 0.01, 2: 0.0})

    assert anext_now(items).result() == 0
    pending = anext_now(items)
    assert not pending.done()
    assert await pending == 1
    later = anext_now(items)  # sleep(0) suspends too: a task, not a ready item
    assert not later.done() and await later == 2


async def test_cancelling_a_suspended_anext_now_cancels_the_pull_where_it_waits():
    log = []
    items = _items(log, {1: 30.0})
    await anext_now(items)
    pending = anext_now(items)
    await asyncio.sleep(0)

    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending

    assert log == ["closed"]  # the generator got the cancel in its sleep and ran its finally


async def test_anext_now_hands_over_the_iterators_error():
    async def failing():
        raise ValueError("model error")
        yield  # pragma: no cover - makes this an async generator

    pulled = anext_now(failing())

    assert pulled.done() and isinstance(pulled.exception(), ValueError)
