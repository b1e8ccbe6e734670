"""The offline fake model: deterministic Markdown, async delays, fixed-size answers, cancel/close, error triggers."""

import asyncio

import pytest

from config.bedrock.client import ModelError, ModelRequest, StreamStop, StreamUsage, TextDelta, model_backend
from config.bedrock.events import request_text
from config.bedrock.fake import FakeModel, fake_answer
from config.bedrock.tokens import tokens_estimate


def make_request(question: str = "How do I *file* taxes?", **overrides) -> ModelRequest:
    fields = {
        "model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "system_text": "Tax agent\n## Instructions\nBe precise.",
        "messages": [
            {"role": "user", "text": "hello"},
            {"role": "assistant", "text": "hi"},
            {"role": "user", "text": question},
        ],
        "max_tokens": 4096,
        "temperature": 0.7,
        "top_p": 0.9,
    }
    return ModelRequest(**{**fields, **overrides})


def collect(stream) -> list:
    """Every event of an async stream, read on a loop of its own."""

    async def read():
        return [event async for event in stream]

    return asyncio.run(read())


def deltas(events) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def test_the_test_settings_select_the_fake():
    assert isinstance(model_backend(), FakeModel)


def test_answer_is_deterministic_readable_markdown():
    request = make_request()

    first = collect(FakeModel().stream(request))
    second = collect(FakeModel().stream(request))

    assert deltas(first) == deltas(second)
    text = "".join(deltas(first))
    assert text == fake_answer(request)
    assert "`us.anthropic.claude-sonnet-4-20250514-v1:0`" in text
    assert "*Tax agent*" in text
    assert "> How do I *file* taxes?" in text
    assert "\n1. " in text
    assert "```python\n" in text
    assert "Turn 2 of this conversation" in text


def test_answer_is_streamed_word_by_word():
    events = collect(FakeModel().stream(make_request()))

    words = deltas(events)
    assert len(words) > 20
    assert all(len(w.split()) == 1 for w in words)


def test_stream_ends_with_stop_and_estimated_usage():
    request = make_request()

    events = collect(FakeModel().stream(request))

    assert events[-2] == StreamStop("end_turn")
    usage = events[-1]
    assert isinstance(usage, StreamUsage)
    assert usage.input_tokens == tokens_estimate(request_text(request)) > 0
    assert usage.output_tokens == len(deltas(events))
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (0, 0)


def test_max_tokens_cuts_the_answer():
    events = collect(FakeModel().stream(make_request(max_tokens=5)))

    assert len(deltas(events)) == 5
    assert StreamStop("max_tokens") in events
    assert events[-1].output_tokens == 5


def test_fixed_token_mode_streams_exactly_n_tokens(settings):
    settings.FAKE_MODEL_ANSWER_TOKENS = 250

    events = collect(FakeModel().stream(make_request()))

    assert len(deltas(events)) == 250
    assert events[-1].output_tokens == 250
    assert events[-2] == StreamStop("end_turn")


class FakeClock:
    """``time.monotonic`` and ``asyncio.sleep`` of the fake model on one hand-moved clock."""

    def __init__(self) -> None:
        self.now, self.pauses = 1000.0, []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:  # the pauses are asyncio sleeps: no thread waits for a token
        self.pauses.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr("config.bedrock.fake.time.monotonic", fake.monotonic)
    monkeypatch.setattr("config.bedrock.fake.asyncio.sleep", fake.sleep)
    return fake


def test_delay_between_tokens_and_before_the_first(settings, clock):
    settings.FAKE_MODEL_ANSWER_TOKENS = 6
    settings.FAKE_MODEL_DELAY_SECONDS = 0.02
    settings.FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS = 0.1

    assert len(deltas(collect(FakeModel().stream(make_request())))) == 6
    assert clock.pauses == [0.1] + [0.02] * 5


async def test_a_late_reader_finds_the_tokens_that_came_due_waiting(settings, clock):
    settings.FAKE_MODEL_ANSWER_TOKENS = 6
    settings.FAKE_MODEL_DELAY_SECONDS = 0.02
    settings.FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS = 0.0
    stream = FakeModel().stream(make_request())
    assert isinstance(await anext(stream), TextDelta)

    clock.now += 0.05  # the reader was busy for 2.5 token gaps: tokens 1 and 2 are due, as on Bedrock's connection
    waiting = [await anext(stream), await anext(stream)]
    rest = [event async for event in stream]

    assert all(isinstance(event, TextDelta) for event in waiting)
    assert clock.pauses == [0.01, 0.02, 0.02]  # token 3 is due at 0.06: the pace is Bedrock's, not the reader's
    assert len(deltas(rest)) == 3


async def test_cancelling_the_reader_ends_the_stream_in_its_pause(settings):
    settings.FAKE_MODEL_DELAY_SECONDS = 30.0
    stream = FakeModel().stream(make_request())
    assert isinstance(await anext(stream), TextDelta)  # no delay before the first token
    reader = asyncio.create_task(anext(stream))
    await asyncio.sleep(0)

    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    assert [event async for event in stream] == []  # a cancelled generator is finished


async def test_aclose_between_tokens_ends_the_stream():
    stream = FakeModel().stream(make_request())
    await anext(stream)
    await anext(stream)

    await stream.aclose()

    assert [event async for event in stream] == []


def test_error_trigger_raises_mid_stream():
    received = []

    async def read():
        async for event in FakeModel().stream(make_request("please fail [fake:error] now")):
            received.append(event)

    with pytest.raises(ModelError) as caught:
        asyncio.run(read())

    assert len(received) == 3
    assert all(isinstance(e, TextDelta) for e in received)
    assert caught.value.code == "model_error"


def test_throttle_trigger_fails_before_the_first_token():
    with pytest.raises(ModelError) as caught:
        collect(FakeModel().stream(make_request("[fake:throttle]")))

    assert caught.value.code == "model_throttled"
    assert caught.value.retryable is True


def test_complete_returns_a_deterministic_title():
    request = make_request("how do I file my 2024 taxes online, quickly?")

    title, usage = FakeModel().complete(request)

    assert title == "How do I file my 2024"
    assert FakeModel().complete(request)[0] == title
    assert usage.input_tokens == tokens_estimate(request_text(request))
    assert usage.output_tokens > 0


def test_complete_without_words_has_a_fallback_title():
    title, _ = FakeModel().complete(make_request("?!"))

    assert title == "New conversation"


def test_count_tokens_is_an_estimate():
    request = make_request()

    assert FakeModel().count_tokens(request) == tokens_estimate(request_text(request)) > 0
