"""A fake Bedrock endpoint for tests: AWS event-stream frames answered through botocore's ``before-send`` hook.

The real adapter (``config.bedrock``) and the real clients run unchanged; only the HTTP exchange is replaced:
ConverseStream on the aiobotocore client (``config.bedrock.stream``: an ``AioAWSResponse`` whose body reads like
aiohttp's), Converse and CountTokens on the sync boto3 client (an ``AWSResponse``). aiobotocore parses the bytes
into a real ``AioEventStream``, so in-stream exception frames surface as ``EventStreamError`` after the earlier
events, exactly as in production. Use it through the ``fake_bedrock`` fixture in ``tests/conftest.py``.
"""

import asyncio
import binascii
import json
import struct
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiobotocore.awsrequest import AioAWSResponse
from botocore.awsrequest import AWSResponse

from config.bedrock.events import ModelRequest

HOLD_POLL_SECONDS = 0.005
WAIT_SECONDS = 30.0  # a guard against a hang, not a timing assertion: generous for a loaded machine

Event = tuple[str, dict[str, Any]]  # (event type, payload), e.g. ("contentBlockDelta", {...})


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v  # 7 = string value


def encode_frame(event_type: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    """One event-stream message; ``message_type="exception"`` makes an in-stream exception frame."""
    kind = ":event-type" if message_type == "event" else ":exception-type"
    headers = (
        _header(kind, event_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", message_type)
    )
    body = json.dumps(payload).encode()
    prelude = struct.pack("!II", 12 + len(headers) + len(body) + 4, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


# --- ConverseStream events -----------------------------------------------------------------------


def message_start() -> Event:
    return ("messageStart", {"role": "assistant"})


def text_delta(text: str, index: int = 0) -> Event:
    return ("contentBlockDelta", {"delta": {"text": text}, "contentBlockIndex": index})


def block_stop(index: int = 0) -> Event:
    return ("contentBlockStop", {"contentBlockIndex": index})


def message_stop(stop_reason: str = "end_turn") -> Event:
    return ("messageStop", {"stopReason": stop_reason})


def metadata(
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_read: int | None = None,
    cache_write: int | None = None,
    latency_ms: int = 120,
) -> Event:
    usage = {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}
    if cache_read is not None:
        usage["cacheReadInputTokens"] = cache_read
    if cache_write is not None:
        usage["cacheWriteInputTokens"] = cache_write
    return ("metadata", {"usage": usage, "metrics": {"latencyMs": latency_ms}})


def stream_exception(exception_type: str = "throttlingException", message: str = "Too many requests") -> Event:
    """An in-stream exception frame, e.g. ``throttlingException``, ``modelStreamErrorException``."""
    return ("!" + exception_type, {"message": message})


def answer(
    *texts: str, stop_reason: str = "end_turn", input_tokens: int = 10, output_tokens: int | None = None, **usage
) -> list[Event]:
    """The usual successful sequence: start, one delta per text, block stop, message stop, metadata."""
    return [
        message_start(),
        *(text_delta(t) for t in texts),
        block_stop(),
        message_stop(stop_reason),
        metadata(input_tokens, len(texts) if output_tokens is None else output_tokens, **usage),
    ]


def encode_events(events: list[Event]) -> list[bytes]:
    return [
        encode_frame(kind[1:], payload, "exception") if kind.startswith("!") else encode_frame(kind, payload)
        for kind, payload in events
    ]


async def polled(condition) -> None:
    """Wait on the loop until ``condition()`` holds (another thread may make it true, so it is polled)."""
    while not condition():  # noqa: ASYNC110  (threading events: no asyncio.Event to await)
        await asyncio.sleep(HOLD_POLL_SECONDS)


async def until(condition) -> None:
    """``polled``, failing the test after ``WAIT_SECONDS``."""
    async with asyncio.timeout(WAIT_SECONDS):
        await polled(condition)


class RawFrames:
    """The body of a ConverseStream reply as aiobotocore reads it: ``content.iter_chunks()`` like an aiohttp
    response, and ``close()``.

    ``delay`` pauses before each frame; ``hold_after=N`` waits after N frames until ``resume()`` (or ``close()``),
    which lets a test act mid-stream without timing guesses; ``held`` is set while it waits. A read after
    ``close()`` fails with ``aiohttp.ClientConnectionError``, as a closed aiohttp response does.
    """

    def __init__(self, frames: list[bytes], *, delay: float = 0.0, hold_after: int | None = None) -> None:
        self.frames = frames
        self.delay = delay
        self.hold_after = hold_after
        self.sent = 0
        self.closed = threading.Event()
        self.held = threading.Event()
        self._resumed = threading.Event()
        self.content = self  # aiohttp: ``response.content`` is the stream reader

    async def iter_chunks(self):
        for frame in self.frames:
            if self.sent == self.hold_after:
                self.held.set()
                await polled(lambda: self._resumed.is_set() or self.closed.is_set())
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.closed.is_set():
                raise aiohttp.ClientConnectionError("Connection closed")
            self.sent += 1
            yield frame, True

    async def read(self) -> bytes:
        return b"".join(self.frames)

    def resume(self) -> None:
        self._resumed.set()

    async def wait_held(self) -> None:
        await until(self.held.is_set)

    async def wait_closed(self) -> None:
        await until(self.closed.is_set)

    def close(self) -> None:
        self.closed.set()

    release = close


@dataclass
class BedrockCall:
    operation: str  # "ConverseStream", "Converse", "CountTokens"
    model_id: str
    body: dict[str, Any]


@dataclass
class _Reply:
    status: int
    headers: dict[str, str]
    raw: Any


@dataclass
class FakeBedrock:
    """Scripted answers for ``bedrock-runtime``, installed on a client with ``install(client)``.

    Replies are queued per operation and used in order; an operation with an empty queue gets a default
    (ConverseStream: ``answer("Hello", " world")``; Converse: a short title; CountTokens: 42). Every request is
    recorded in ``calls`` with its JSON body; every ConverseStream body served is kept in ``streams``.
    """

    calls: list[BedrockCall] = field(default_factory=list)
    streams: list[RawFrames] = field(default_factory=list)
    _queues: dict[str, list[_Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- scripting ---------------------------------------------------------------------------------
    def stream(self, events: list[Event], *, delay: float = 0.0, hold_after: int | None = None) -> RawFrames:
        """Queue a ConverseStream answer (events from ``answer()``/``text_delta()``/``stream_exception()``...)."""
        raw = RawFrames(encode_events(events), delay=delay, hold_after=hold_after)
        self._queue("ConverseStream", _Reply(200, {"content-type": "application/vnd.amazon.eventstream"}, raw))
        return raw

    def error(
        self,
        code: str = "ThrottlingException",
        *,
        status: int = 429,
        message: str = "Rate exceeded",
        operation: str = "ConverseStream",
    ) -> None:
        """Queue a request-level HTTP error (botocore parses it into ``ClientError`` and may retry it)."""
        body = json.dumps({"message": message}).encode()
        self._queue(operation, _Reply(status, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"}, body))

    def converse(self, text: str, *, input_tokens: int = 20, output_tokens: int = 4, stop_reason: str = "end_turn"):
        body = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
            "metrics": {"latencyMs": 80},
        }
        self._queue("Converse", _Reply(200, {"content-type": "application/json"}, json.dumps(body).encode()))

    def count_tokens(self, input_tokens: int) -> None:
        body = json.dumps({"inputTokens": input_tokens}).encode()
        self._queue("CountTokens", _Reply(200, {"content-type": "application/json"}, body))

    # --- inspection ----------------------------------------------------------------------------------
    def requests(self, operation: str = "ConverseStream") -> list[dict[str, Any]]:
        return [call.body for call in self.calls if call.operation == operation]

    async def wait_for_stream(self, index: int = 0) -> RawFrames:
        """The ``index``-th ConverseStream body served, once the adapter has asked for it (on this loop)."""
        await until(lambda: len(self.streams) > index)
        return self.streams[index]

    # --- wiring --------------------------------------------------------------------------------------
    def install(self, client) -> None:
        """Answer the sync boto3 client's requests (Converse, CountTokens)."""
        client.meta.events.register("before-send.bedrock-runtime", self._answer, unique_id=f"fake-bedrock-{id(self)}")

    def install_async(self, session) -> None:
        """Answer every aiobotocore client made from ``session`` from now on (ConverseStream)."""
        session.register("before-send.bedrock-runtime", self._answer_async, unique_id=f"fake-bedrock-aio-{id(self)}")

    def uninstall(self, client) -> None:
        client.meta.events.unregister("before-send.bedrock-runtime", unique_id=f"fake-bedrock-{id(self)}")

    def _queue(self, operation: str, reply: _Reply) -> None:
        with self._lock:
            self._queues.setdefault(operation, []).append(reply)

    def _answer(self, request, event_name: str, **kwargs) -> AWSResponse:
        reply = self._reply(request, event_name)
        return AWSResponse(request.url, reply.status, reply.headers, _Body(reply.raw))

    def _answer_async(self, request, event_name: str, **kwargs) -> AioAWSResponse:
        reply = self._reply(request, event_name)
        raw = reply.raw if isinstance(reply.raw, RawFrames) else _Body(reply.raw)
        return AioAWSResponse(request.url, reply.status, reply.headers, raw)

    def _reply(self, request, event_name: str) -> _Reply:
        operation = event_name.rsplit(".", 1)[-1]
        model_id = unquote(request.url.split("/model/", 1)[1].split("/", 1)[0])
        body = json.loads(request.body or b"{}")
        with self._lock:
            self.calls.append(BedrockCall(operation, model_id, body))
            queue = self._queues.get(operation)
            reply = queue.pop(0) if queue else self._default(operation)
            if isinstance(reply.raw, RawFrames):
                self.streams.append(reply.raw)
        return reply

    @staticmethod
    def _default(operation: str) -> _Reply:
        if operation == "ConverseStream":
            raw = RawFrames(encode_events(answer("Hello", " world")))
            return _Reply(200, {"content-type": "application/vnd.amazon.eventstream"}, raw)
        if operation == "Converse":
            body = {
                "output": {"message": {"role": "assistant", "content": [{"text": "A short title"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 20, "outputTokens": 3, "totalTokens": 23},
                "metrics": {"latencyMs": 50},
            }
            return _Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())
        return _Reply(200, {"content-type": "application/json"}, json.dumps({"inputTokens": 42}).encode())


class _Body:
    """A non-streaming HTTP body, for botocore (``stream()``) and aiobotocore (``await read()``)."""

    def __init__(self, content: bytes) -> None:
        self.body = content

    def stream(self, *args, **kwargs):
        yield self.body

    async def read(self) -> bytes:
        return self.body

    def close(self) -> None:
        pass

    release = close


def make_request(**overrides) -> ModelRequest:
    """A model request for the adapter tests; ``overrides`` replace its fields."""
    fields = {
        "model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "system_text": "You are the tax agent.",
        "messages": [{"role": "user", "text": "How do I file?"}],
        "max_tokens": 512,
        "temperature": 0.4,
        "top_p": 0.9,
    }
    return ModelRequest(**{**fields, **overrides})
