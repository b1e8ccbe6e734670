"""Running blocking I/O (PynamoDB, sync boto3: Converse, CountTokens, Cognito keys) from async code without
stalling the event loop.

asgiref's default ``thread_sensitive=True`` funnels every call through one shared thread, and the loop's
default executor has only ``cpu + 4`` threads; a dedicated pool of ``IO_THREADS`` serves them. Model streams never
run here (they are read on the loop, ``config.bedrock.stream``), so DynamoDB calls never queue behind a thread
waiting for a token.
"""

from collections.abc import Callable
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
