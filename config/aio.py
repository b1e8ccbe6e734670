"""Running blocking I/O (PynamoDB, sync boto3: Converse, CountTokens, Cognito keys) from async code without
stalling the event loop.

asgiref's default ``thread_sensitive=True`` funnels every call through one shared thread, and the loop's
default executor has only ``cpu + 4`` threads; a dedicated pool of ``IO_THREADS`` serves them. Model streams never
run here (they are read on the loop, ``config.bedrock.stream``), so DynamoDB calls never queue behind a thread
waiting for a token.
"""

import asyncio
from collections.abc import Awaitable, Callable
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
