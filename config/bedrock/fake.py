"""The offline model (``BEDROCK_MODE=fake``): same interface as the Bedrock backend, no network, deterministic.

It streams a readable Markdown answer word by word, so the local stack and the chat page behave like the real
thing. Settings (read on every call):

- ``FAKE_MODEL_DELAY_SECONDS``: time between tokens.
- ``FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS``: time before the first token (time to first token).
- ``FAKE_MODEL_ANSWER_TOKENS``: 0 = the natural answer; N = an answer of exactly N tokens (benchmarks).

The tokens keep Bedrock's pace, not the reader's: token *i* is due at start + first delay + *i* x delay. A reader
that falls behind (a busy process) finds the tokens that came due meanwhile waiting, as it would find them buffered
on Bedrock's connection, so coalescing under pressure is exercised by the local stack and the benchmark.

Triggers for offline error testing, written anywhere in the last user message:

- ``[fake:error]``: three tokens, then ``ModelError(code="model_error")`` raised from the iterator (mid-stream).
- ``[fake:throttle]``: ``ModelError(code="model_throttled")`` raised before any token (the first ``__anext__``),
  as the real backend does once its retries are used up.

Streaming takes the same path as Bedrock's (``config.bedrock.stream``): an async generator whose pauses are
``asyncio.sleep``, so the local stack and the benchmarks exercise what production does.

Usage is an estimate: input = ``config.bedrock.tokens.tokens_estimate`` of the system prompt and messages, output = the
number of tokens streamed. The answer is cut at ``max_tokens`` tokens (stop reason ``max_tokens``, else
``end_turn``).
"""

import asyncio
import re
import time
from collections.abc import AsyncIterator

from django.conf import settings

from config.bedrock.events import (
    ModelEvent,
    ModelRequest,
    StreamStop,
    StreamUsage,
    TextDelta,
    model_error,
    request_text,
)
from config.bedrock.tokens import tokens_estimate

ERROR_TRIGGER = "[fake:error]"
THROTTLE_TRIGGER = "[fake:throttle]"
TOKENS_BEFORE_ERROR = 3
QUOTE_MAX_CHARS = 200
TITLE_MAX_WORDS = 6
FILLER_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
_TOKEN = re.compile(r"\s*\S+")


def fake_answer(request: ModelRequest) -> str:
    """The natural answer: names the model and the engine (first line of the system prompt), quotes the question."""
    question = _last_user_text(request)
    quote = question if len(question) <= QUOTE_MAX_CHARS else question[:QUOTE_MAX_CHARS].rstrip() + "…"
    quoted = "\n".join(f"> {line}" for line in quote.splitlines() or [""])
    engine = request.system_text.strip().splitlines()[0] if request.system_text.strip() else "no system prompt"
    turn = sum(1 for m in request.messages if m["role"] == "user")
    return (
        f"This is the **offline fake model** standing in for `{request.model_id}` "
        f"(engine: *{engine}*).\n\n"
        f"You asked:\n\n{quoted}\n\n"
        f"A real answer would cover:\n\n"
        f"1. What the question is about ({len(question.split())} words, {len(question)} characters).\n"
        f"2. The relevant context from the system prompt and {len(request.messages) - 1} earlier messages.\n"
        f"3. A clear, actionable next step.\n\n"
        f"```python\nprint({question[:40]!r})\n```\n\n"
        f"_Turn {turn} of this conversation; set `BEDROCK_MODE=bedrock` for real answers._"
    )


def fake_tokens(request: ModelRequest) -> list[str]:
    """The streamed pieces: words with their leading whitespace, so joining them gives the answer back exactly."""
    fixed = settings.FAKE_MODEL_ANSWER_TOKENS
    if fixed > 0:
        return [("" if i == 0 else " ") + FILLER_WORDS[i % len(FILLER_WORDS)] for i in range(fixed)]
    return _TOKEN.findall(fake_answer(request))


async def fake_stream(request: ModelRequest) -> AsyncIterator[ModelEvent]:
    """The answer's tokens with the configured delays, as ``asyncio.sleep``: like Bedrock, no thread waits.

    Cancelling the task that iterates it (stop) ends it at the pause it is in.
    """
    if THROTTLE_TRIGGER in _last_user_text(request):
        raise model_error("model_throttled", "fake model: throttle trigger in the message")
    started = time.monotonic()
    tokens = fake_tokens(request)
    stop_reason = "end_turn"
    if len(tokens) > request.max_tokens:
        tokens, stop_reason = tokens[: request.max_tokens], "max_tokens"
    fail_at = min(TOKENS_BEFORE_ERROR, len(tokens)) if ERROR_TRIGGER in _last_user_text(request) else None
    first_delay, delay = settings.FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS, settings.FAKE_MODEL_DELAY_SECONDS
    for index, token in enumerate(tokens):
        pause = started + first_delay + index * delay - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        if index == fail_at:
            break
        yield TextDelta(token)
    if fail_at is not None:
        raise model_error("model_error", "fake model: error trigger in the message")
    yield StreamStop(stop_reason)
    yield StreamUsage(
        input_tokens=tokens_estimate(request_text(request)),
        output_tokens=len(tokens),
        latency_ms=int((time.monotonic() - started) * 1000),
    )


class FakeModel:
    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return fake_stream(request)

    def complete(self, request: ModelRequest) -> tuple[str, StreamUsage]:
        """A deterministic title: the first words of the last user message."""
        words = re.findall(r"\w+", _last_user_text(request))[:TITLE_MAX_WORDS]
        title = " ".join(words) if words else "New conversation"
        title = title[0].upper() + title[1:]
        usage = StreamUsage(input_tokens=tokens_estimate(request_text(request)), output_tokens=len(title.split()))
        return title, usage

    def count_tokens(self, request: ModelRequest) -> int:
        return tokens_estimate(request_text(request))


def _last_user_text(request: ModelRequest) -> str:
    return next((m["text"] for m in reversed(request.messages) if m["role"] == "user"), "")
