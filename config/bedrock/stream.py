"""ConverseStream read asynchronously (aiobotocore): no thread is held while the model thinks.

One aiobotocore client per process and event loop (``bedrock_stream_client()``). daphne runs one loop, so in
production that is one client with one aiohttp connection pool; tests get a fresh loop, and so a fresh client,
per test. ``bedrock_stream(request)`` is an async generator of normalized events:

- request-level errors (after botocore's own retries) raise ``ModelError`` from the first ``__anext__``;
- an error *inside* the stream is retried by re-opening, with backoff, only while nothing was yielded yet;
  after the first event it is raised, so an answer is never duplicated or silently restarted;
- stopping is cancelling the task that iterates it (or ``aclose()``): ``finally`` closes the HTTP response, the
  TCP connection goes away and Bedrock stops generating. No usage is reported for a closed stream.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from django.conf import settings

from config.bedrock.converse import STREAM_RETRYABLE_CODES, as_model_error, client_options, error_code, normalize
from config.bedrock.events import ModelEvent

logger = logging.getLogger(__name__)

_session: AioSession | None = None
# (loop, task building the client, exit stack): the aiohttp session inside a client belongs to the loop that
# made it. Callers share the one task, so concurrent first streams build one client.
_client: tuple[asyncio.AbstractEventLoop, asyncio.Task, contextlib.AsyncExitStack] | None = None


def bedrock_stream_session() -> AioSession:
    """The aiobotocore session clients are made from (handlers registered on it reach every new client)."""
    global _session
    if _session is None:
        _session = AioSession()
    return _session


async def bedrock_stream_client():
    """The process's aiobotocore ``bedrock-runtime`` client for the running loop, built on first use."""
    global _client
    loop = asyncio.get_running_loop()
    if _client is None or _client[0] is not loop or _failed(_client[1]):
        stack = contextlib.AsyncExitStack()
        _client = (loop, loop.create_task(_client_build(stack)), stack)
    return await asyncio.shield(_client[1])  # a cancelled first stream must not cancel the build for the others


def _failed(task: asyncio.Task) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


async def _client_build(stack: contextlib.AsyncExitStack):
    return await stack.enter_async_context(
        bedrock_stream_session().create_client(
            "bedrock-runtime",
            region_name=settings.BEDROCK_REGION,
            config=AioConfig(**client_options()),
        )
    )


async def bedrock_stream_client_close() -> None:
    """Close the client and its connections (at shutdown, after the streams have drained)."""
    global _client
    current, _client = _client, None
    if current is not None and current[0] is asyncio.get_running_loop() and current[1].done():
        await current[2].aclose()


def bedrock_stream_reset() -> None:
    """Forget the session and client; the next stream builds them from the current settings (tests).

    A client left on another loop is dropped, not closed: its loop may be gone, and a client that never sent a
    real request holds no connection.
    """
    global _session, _client
    _session = _client = None


async def bedrock_stream(params: dict[str, Any]) -> AsyncIterator[ModelEvent]:
    """The normalized events of one ConverseStream call with ``params`` (see the module docstring)."""
    client = await bedrock_stream_client()
    retries = 0
    while True:
        try:
            event_stream = (await client.converse_stream(**params))["stream"]
        except Exception as exc:
            raise as_model_error(exc) from exc
        delivered = False
        try:
            async for raw in event_stream:
                event = normalize(raw)
                if event is not None:
                    delivered = True
                    yield event
            return
        except Exception as exc:
            error = as_model_error(exc)
            if delivered or error_code(exc) not in STREAM_RETRYABLE_CODES or retries >= settings.BEDROCK_MAX_RETRIES:
                logger.warning("Bedrock stream failed: %s (%s)", error.code, error.detail)
                raise error from exc
            retries += 1
            logger.info("Bedrock stream error before the first token (%s); re-opening, retry %d", error.detail, retries)
        finally:
            # Closing the response closes its TCP connection: Bedrock stops generating. Runs on cancel too.
            event_stream.close()
        await asyncio.sleep(_backoff(retries))


def _backoff(retry: int) -> float:
    base = settings.BEDROCK_STREAM_RETRY_BASE_SECONDS * 2 ** (retry - 1)
    return base * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not cryptography)
