"""Running blocking I/O (PynamoDB, sync boto3: Converse, CountTokens, Cognito keys) from async code without
stalling the event loop.

asgiref's default ``thread_sensitive=True`` funnels every call through one shared thread, and the loop's
default executor has only ``cpu + 4`` threads; a dedicated pool of ``IO_THREADS`` serves them. Model streams never
run here (they are read on the loop, ``config.bedrock.stream``), so DynamoDB calls never queue behind a thread
waiting for a token.
"""

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")


@cache
def io_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=settings.IO_THREADS, thread_name_prefix="io")


async def run_io(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return await sync_to_async(fn, thread_sensitive=False, executor=io_pool())(*args, **kwargs)


# Python 3.11's asyncio.wait_for returns its result when a cancel arrives just as the awaited operation completes
# (gh-86296, fixed in 3.12), and redis-py awaits every socket write through it: a cancel that lands during a Redis
# call (a channel-layer send, a replay-log write) can vanish. The two helpers below make such a cancel hold.


async def cancel_deliver() -> None:
    """Raise ``CancelledError`` now if this task was asked to cancel, even if an await below swallowed it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        await asyncio.sleep(0)  # a cancel still pending is delivered here
        raise asyncio.CancelledError


async def cancel_surely(awaitable: Awaitable[R]) -> R:
    """Await ``awaitable`` in a child task; when the caller is cancelled, cancel the child until it has ended."""
    child = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait({child})
    except asyncio.CancelledError:
        while not child.done():
            child.cancel()
            await asyncio.wait({child}, timeout=0.1)
        raise
    return child.result()


def anext_now(iterator: AsyncIterator[R]) -> "asyncio.Future[R]":
    """The next item of ``iterator`` as a future: already done when the pull completed without suspending (the
    item was waiting, as a buffered stream's is), so no loop turn is spent on it; else a task going on with the
    pull from where it suspended.

    ``asyncio.ensure_future(anext(it))`` always costs a turn of the loop, and on a loaded loop a turn runs every
    other ready callback first: a reader taking waiting items that way gets one per turn.
    """
    loop = asyncio.get_running_loop()
    steps = anext(iterator).__await__()
    try:
        suspended_on = steps.send(None)
    except StopIteration as stop:
        done = loop.create_future()
        done.set_result(stop.value)
        return done
    except Exception as exc:  # the end (StopAsyncIteration) or the iterator's error, as the future's outcome
        done = loop.create_future()
        done.set_exception(exc)
        return done
    return asyncio.ensure_future(_resumed(steps, suspended_on))


@types.coroutine
def _resumed(steps: Generator, suspended_on: object) -> Generator:
    """Run ``steps`` on from where it suspended (on ``suspended_on``), as the task awaiting this drives it: what
    the task sends or throws in (a cancel) goes to ``steps``."""
    while True:
        try:
            sent = yield suspended_on
        except BaseException as exc:  # thrown in by the task (a cancel): the pull is the one to handle it
            try:
                suspended_on = steps.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            suspended_on = steps.send(sent)
        except StopIteration as stop:
            return stop.value
