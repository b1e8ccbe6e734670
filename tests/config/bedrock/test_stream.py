"""ConverseStream on aiobotocore (config/bedrock/stream.py) against real event-stream frames served through the
before-send hook: normalized events, in-stream and request errors, retries before the first event only, and the
HTTP stream closed on every way out (cancel = stop, aclose, error)."""

import asyncio

import pytest

from config.bedrock.client import ModelError, StreamStop, StreamUsage, TextDelta, model_backend
from config.bedrock.stream import bedrock_stream_client, bedrock_stream_client_close
from tests.bedrock_frames import (
    answer,
    block_stop,
    make_request,
    message_start,
    message_stop,
    metadata,
    stream_exception,
    text_delta,
)


def texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


async def collect(stream) -> list:
    return [event async for event in stream]


async def test_stream_turns_frames_into_normalized_events(fake_bedrock):
    fake_bedrock.stream(
        [
            message_start(),
            ("contentBlockDelta", {"delta": {"reasoningContent": {"text": "thinking"}}, "contentBlockIndex": 0}),
            text_delta("Hello"),
            text_delta(", world"),
            block_stop(),
            message_stop("end_turn"),
            metadata(input_tokens=1200, output_tokens=7, cache_read=1000, cache_write=150, latency_ms=321),
        ]
    )

    events = await collect(model_backend().stream(make_request()))

    assert events == [
        TextDelta("Hello"),
        TextDelta(", world"),
        StreamStop("end_turn"),
        StreamUsage(input_tokens=1200, output_tokens=7, cache_read_tokens=1000, cache_write_tokens=150, latency_ms=321),
    ]


async def test_usage_without_cache_fields_reports_zero_cache_tokens(fake_bedrock):
    fake_bedrock.stream(answer("Hi", input_tokens=12, output_tokens=1))

    usage = (await collect(model_backend().stream(make_request())))[-1]

    assert usage == StreamUsage(
        input_tokens=12, output_tokens=1, cache_read_tokens=0, cache_write_tokens=0, latency_ms=120
    )


@pytest.mark.parametrize("stop_reason", ["max_tokens", "stop_sequence", "guardrail_intervened", "content_filtered"])
async def test_stop_reason_is_passed_through(fake_bedrock, stop_reason):
    fake_bedrock.stream(answer("partial", stop_reason=stop_reason))

    events = await collect(model_backend().stream(make_request()))

    assert StreamStop(stop_reason) in events


async def test_request_has_static_system_prompt_then_cache_point_then_turns(fake_bedrock):
    messages = [
        {"role": "user", "text": "first question"},
        {"role": "assistant", "text": "first answer"},
        {"role": "user", "text": "second question"},
    ]

    await collect(model_backend().stream(make_request(messages=messages, max_tokens=777, temperature=0.2, top_p=0.8)))

    [call] = fake_bedrock.calls
    assert call.operation == "ConverseStream"
    assert call.model_id == "us.anthropic.claude-sonnet-4-20250514-v1:0"
    assert call.body["system"] == [{"text": "You are the tax agent."}, {"cachePoint": {"type": "default"}}]
    assert call.body["messages"] == [
        {"role": "user", "content": [{"text": "first question"}]},
        {"role": "assistant", "content": [{"text": "first answer"}]},
        {"role": "user", "content": [{"text": "second question"}]},
    ]
    assert call.body["inferenceConfig"] == {"maxTokens": 777, "temperature": 0.2, "topP": 0.8}


async def test_top_p_none_is_left_out(fake_bedrock):
    await collect(model_backend().stream(make_request(top_p=None)))

    assert fake_bedrock.requests()[0]["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.4}


async def test_temperature_only_models_never_get_top_p_next_to_temperature(fake_bedrock, settings):
    settings.BEDROCK_TEMPERATURE_ONLY_MODELS = ["claude-sonnet-4-5"]
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    await collect(model_backend().stream(make_request(model_id=model, temperature=0.3, top_p=0.9)))
    await collect(model_backend().stream(make_request(model_id=model, temperature=None, top_p=0.9)))

    first, second = fake_bedrock.requests()
    assert first["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.3}
    assert second["inferenceConfig"] == {"maxTokens": 512, "topP": 0.9}


async def test_prompt_caching_can_be_switched_off(fake_bedrock, settings):
    settings.BEDROCK_PROMPT_CACHING = False

    await collect(model_backend().stream(make_request()))

    assert fake_bedrock.requests()[0]["system"] == [{"text": "You are the tax agent."}]


async def test_empty_system_text_sends_no_system_block(fake_bedrock):
    await collect(model_backend().stream(make_request(system_text="")))

    assert "system" not in fake_bedrock.requests()[0]


async def test_in_stream_exception_after_deltas_raises_after_the_earlier_deltas(fake_bedrock):
    fake_bedrock.stream(
        [message_start(), text_delta("Hel"), text_delta("lo"), stream_exception("modelStreamErrorException", "boom")]
    )
    received = []

    with pytest.raises(ModelError) as caught:
        async for event in model_backend().stream(make_request()):
            received.append(event)

    assert received == [TextDelta("Hel"), TextDelta("lo")]
    assert caught.value.code == "model_error"
    assert len(fake_bedrock.calls) == 1


@pytest.mark.parametrize(
    "exception_type", ["throttlingException", "serviceUnavailableException", "internalServerException"]
)
async def test_transient_error_before_first_token_is_retried_by_reopening_the_stream(fake_bedrock, exception_type):
    first = fake_bedrock.stream([message_start(), stream_exception(exception_type)])
    fake_bedrock.stream(answer("Recovered", input_tokens=5, output_tokens=1))

    events = await collect(model_backend().stream(make_request()))

    assert texts(events) == ["Recovered"]
    assert StreamStop("end_turn") in events
    assert len(fake_bedrock.requests()) == 2
    assert fake_bedrock.requests()[0] == fake_bedrock.requests()[1]
    assert first.closed.is_set()


async def test_throttling_before_first_token_exhausting_retries_is_reported_retryable(fake_bedrock, settings):
    settings.BEDROCK_MAX_RETRIES = 2
    for _ in range(3):
        fake_bedrock.stream([message_start(), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("never reached"))

    with pytest.raises(ModelError) as caught:
        await collect(model_backend().stream(make_request()))

    assert caught.value.code == "model_throttled"
    assert caught.value.retryable is True
    assert caught.value.status == 429
    assert len(fake_bedrock.requests()) == 3


async def test_throttling_after_first_token_is_reported_not_retried(fake_bedrock):
    fake_bedrock.stream([message_start(), text_delta("Half an ans"), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("a second answer must not be requested"))
    received = []

    with pytest.raises(ModelError) as caught:
        async for event in model_backend().stream(make_request()):
            received.append(event)

    assert received == [TextDelta("Half an ans")]
    assert caught.value.code == "model_throttled"
    assert len(fake_bedrock.requests()) == 1


async def test_non_transient_error_before_first_token_is_not_retried(fake_bedrock):
    fake_bedrock.stream([message_start(), stream_exception("validationException", "bad input")])

    with pytest.raises(ModelError) as caught:
        await collect(model_backend().stream(make_request()))

    assert caught.value.code == "model_invalid_request"
    assert caught.value.retryable is False
    assert len(fake_bedrock.requests()) == 1


@pytest.mark.parametrize(
    ("aws_code", "status", "expected", "retryable"),
    [
        ("AccessDeniedException", 403, "model_access_denied", False),
        ("ValidationException", 400, "model_invalid_request", False),
        ("ResourceNotFoundException", 404, "model_invalid_request", False),
        ("ModelTimeoutException", 408, "model_timeout", True),
        ("ModelErrorException", 424, "model_error", True),
        ("ThrottlingException", 429, "model_throttled", True),
        ("ServiceUnavailableException", 503, "model_unavailable", True),
        ("InternalServerException", 500, "model_unavailable", True),
    ],
)
async def test_request_level_errors_are_mapped(fake_bedrock, aws_code, status, expected, retryable):
    for _ in range(10):  # more than botocore's retries
        fake_bedrock.error(aws_code, status=status)

    with pytest.raises(ModelError) as caught:
        await collect(model_backend().stream(make_request()))

    assert caught.value.code == expected
    assert caught.value.retryable is retryable
    assert caught.value.as_dict()["code"] == expected
    assert "detail" not in caught.value.as_dict()


async def test_request_level_throttling_is_retried_by_botocore(fake_bedrock, settings):
    fake_bedrock.error("ThrottlingException", status=429)
    fake_bedrock.stream(answer("after a retry"))

    events = await collect(model_backend().stream(make_request()))

    assert texts(events) == ["after a retry"]
    assert len(fake_bedrock.requests()) == 2


async def test_request_level_throttling_gives_up_after_the_configured_retries(fake_bedrock, settings):
    for _ in range(10):
        fake_bedrock.error("ThrottlingException", status=429)

    with pytest.raises(ModelError):
        await collect(model_backend().stream(make_request()))

    assert len(fake_bedrock.requests()) == settings.BEDROCK_MAX_RETRIES + 1


async def test_connection_broken_mid_stream_is_reported(fake_bedrock):
    raw = fake_bedrock.stream(answer("one", "two", "three"), hold_after=2)
    stream = model_backend().stream(make_request())
    assert await anext(stream) == TextDelta("one")
    raw.closed.set()  # the connection dies under the adapter
    raw.resume()

    with pytest.raises(ModelError) as caught:
        await collect(stream)

    assert caught.value.code == "model_unavailable"


async def test_cancelling_the_reading_task_closes_the_http_stream(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c", "d"), hold_after=3)
    received = []

    async def read():
        async for event in model_backend().stream(make_request()):
            received.append(event)

    task = asyncio.create_task(read())
    await raw.wait_held()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert raw.closed.is_set()  # aiobotocore closed the response: Bedrock stops generating
    assert received == [TextDelta("a"), TextDelta("b")]
    assert raw.sent == 3 < len(raw.frames)


async def test_aclose_between_events_closes_the_http_stream(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c", "d"), delay=0.001)
    stream = model_backend().stream(make_request())
    assert await anext(stream) == TextDelta("a")

    await stream.aclose()

    assert raw.closed.is_set()
    assert await collect(stream) == []
    assert raw.sent < len(raw.frames)


async def test_a_stream_that_fails_is_closed(fake_bedrock):
    raw = fake_bedrock.stream([message_start(), text_delta("x"), stream_exception("modelStreamErrorException")])

    with pytest.raises(ModelError):
        await collect(model_backend().stream(make_request()))

    assert raw.closed.is_set()


async def test_cancel_during_the_backoff_sends_no_retry(fake_bedrock, settings):
    settings.BEDROCK_STREAM_RETRY_BASE_SECONDS = 30.0
    first = fake_bedrock.stream([message_start(), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("must not be requested"))
    task = asyncio.create_task(collect(model_backend().stream(make_request())))
    await first.wait_closed()  # the adapter closes the failed stream, then backs off

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(fake_bedrock.requests()) == 1


async def test_many_streams_share_one_client_per_loop(fake_bedrock):
    for index in range(20):
        fake_bedrock.stream(answer(f"answer {index}"), delay=0.001)

    results = await asyncio.gather(*(collect(model_backend().stream(make_request())) for _ in range(20)))

    assert sorted(texts(events)[0] for events in results) == sorted(f"answer {i}" for i in range(20))
    clients = await asyncio.gather(*(bedrock_stream_client() for _ in range(5)))
    assert len({id(client) for client in clients}) == 1
    await bedrock_stream_client_close()
    assert await bedrock_stream_client() is not clients[0]  # closed: the next stream builds a fresh one


async def test_the_stream_client_is_sized_by_the_settings(fake_bedrock, settings):
    from config.bedrock.client import bedrock_client_reset

    settings.BEDROCK_MAX_CONCURRENCY = 17
    settings.BEDROCK_MAX_RETRIES = 5
    bedrock_client_reset()
    config = (await bedrock_stream_client()).meta.config

    assert config.max_pool_connections == 17
    assert config.retries == {"mode": settings.BEDROCK_RETRY_MODE, "total_max_attempts": 6}  # 5 retries + 1
