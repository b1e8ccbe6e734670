"""The Bedrock adapter against real event-stream frames served through botocore's before-send hook."""

import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from config.bedrock.client import (
    BedrockModel,
    ModelError,
    ModelRequest,
    StreamStop,
    StreamUsage,
    TextDelta,
    as_model_error,
    bedrock_client,
    bedrock_client_reset,
    model_backend,
)
from config.bedrock.fake import FakeModel
from config.errors import ApplicationError
from tests.bedrock_frames import (
    answer,
    block_stop,
    message_start,
    message_stop,
    metadata,
    stream_exception,
    text_delta,
)


def make_request(**overrides) -> ModelRequest:
    fields = {
        "model_id": "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "system_text": "You are the tax agent.",
        "messages": [{"role": "user", "text": "How do I file?"}],
        "max_tokens": 512,
        "temperature": 0.4,
        "top_p": 0.9,
    }
    return ModelRequest(**{**fields, **overrides})


def texts(events) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def test_stream_turns_frames_into_normalized_events(fake_bedrock):
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

    events = list(model_backend().stream(make_request()))

    assert events == [
        TextDelta("Hello"),
        TextDelta(", world"),
        StreamStop("end_turn"),
        StreamUsage(input_tokens=1200, output_tokens=7, cache_read_tokens=1000, cache_write_tokens=150, latency_ms=321),
    ]


def test_usage_without_cache_fields_reports_zero_cache_tokens(fake_bedrock):
    fake_bedrock.stream(answer("Hi", input_tokens=12, output_tokens=1))

    usage = list(model_backend().stream(make_request()))[-1]

    assert usage == StreamUsage(
        input_tokens=12, output_tokens=1, cache_read_tokens=0, cache_write_tokens=0, latency_ms=120
    )


@pytest.mark.parametrize("stop_reason", ["max_tokens", "stop_sequence", "guardrail_intervened", "content_filtered"])
def test_stop_reason_is_passed_through(fake_bedrock, stop_reason):
    fake_bedrock.stream(answer("partial", stop_reason=stop_reason))

    events = list(model_backend().stream(make_request()))

    assert StreamStop(stop_reason) in events


def test_request_has_static_system_prompt_then_cache_point_then_turns(fake_bedrock):
    messages = [
        {"role": "user", "text": "first question"},
        {"role": "assistant", "text": "first answer"},
        {"role": "user", "text": "second question"},
    ]

    list(model_backend().stream(make_request(messages=messages, max_tokens=777, temperature=0.2, top_p=0.8)))

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


def test_top_p_none_is_left_out(fake_bedrock):
    list(model_backend().stream(make_request(top_p=None)))

    assert fake_bedrock.requests()[0]["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.4}


def test_temperature_only_models_never_get_top_p_next_to_temperature(fake_bedrock, settings):
    settings.BEDROCK_TEMPERATURE_ONLY_MODELS = ["claude-sonnet-4-5"]
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

    list(model_backend().stream(make_request(model_id=model, temperature=0.3, top_p=0.9)))
    list(model_backend().stream(make_request(model_id=model, temperature=None, top_p=0.9)))

    first, second = fake_bedrock.requests()
    assert first["inferenceConfig"] == {"maxTokens": 512, "temperature": 0.3}
    assert second["inferenceConfig"] == {"maxTokens": 512, "topP": 0.9}


def test_prompt_caching_can_be_switched_off(fake_bedrock, settings):
    settings.BEDROCK_PROMPT_CACHING = False

    list(model_backend().stream(make_request()))

    assert fake_bedrock.requests()[0]["system"] == [{"text": "You are the tax agent."}]


def test_empty_system_text_sends_no_system_block(fake_bedrock):
    list(model_backend().stream(make_request(system_text="")))

    assert "system" not in fake_bedrock.requests()[0]


def test_in_stream_exception_after_deltas_raises_after_the_earlier_deltas(fake_bedrock):
    fake_bedrock.stream(
        [message_start(), text_delta("Hel"), text_delta("lo"), stream_exception("modelStreamErrorException", "boom")]
    )
    received = []

    with pytest.raises(ModelError) as caught:
        for event in model_backend().stream(make_request()):
            received.append(event)

    assert received == [TextDelta("Hel"), TextDelta("lo")]
    assert caught.value.code == "model_error"
    assert len(fake_bedrock.calls) == 1


@pytest.mark.parametrize(
    "exception_type", ["throttlingException", "serviceUnavailableException", "internalServerException"]
)
def test_transient_error_before_first_token_is_retried_by_reopening_the_stream(fake_bedrock, exception_type):
    first = fake_bedrock.stream([message_start(), stream_exception(exception_type)])
    fake_bedrock.stream(answer("Recovered", input_tokens=5, output_tokens=1))

    events = list(model_backend().stream(make_request()))

    assert texts(events) == ["Recovered"]
    assert StreamStop("end_turn") in events
    assert len(fake_bedrock.requests()) == 2
    assert fake_bedrock.requests()[0] == fake_bedrock.requests()[1]
    assert first.closed.is_set()


def test_throttling_before_first_token_exhausting_retries_is_reported_retryable(fake_bedrock, settings):
    settings.BEDROCK_MAX_RETRIES = 2
    for _ in range(3):
        fake_bedrock.stream([message_start(), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("never reached"))

    with pytest.raises(ModelError) as caught:
        list(model_backend().stream(make_request()))

    assert caught.value.code == "model_throttled"
    assert caught.value.retryable is True
    assert caught.value.status == 429
    assert len(fake_bedrock.requests()) == 3


def test_throttling_after_first_token_is_reported_not_retried(fake_bedrock):
    fake_bedrock.stream([message_start(), text_delta("Half an ans"), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("a second answer must not be requested"))
    received = []

    with pytest.raises(ModelError) as caught:
        for event in model_backend().stream(make_request()):
            received.append(event)

    assert received == [TextDelta("Half an ans")]
    assert caught.value.code == "model_throttled"
    assert len(fake_bedrock.requests()) == 1


def test_non_transient_error_before_first_token_is_not_retried(fake_bedrock):
    fake_bedrock.stream([message_start(), stream_exception("validationException", "bad input")])

    with pytest.raises(ModelError) as caught:
        list(model_backend().stream(make_request()))

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
def test_request_level_errors_are_mapped(fake_bedrock, aws_code, status, expected, retryable):
    for _ in range(10):  # more than botocore's retries
        fake_bedrock.error(aws_code, status=status)

    with pytest.raises(ModelError) as caught:
        model_backend().stream(make_request())

    assert caught.value.code == expected
    assert caught.value.retryable is retryable
    assert caught.value.as_dict()["code"] == expected
    assert "detail" not in caught.value.as_dict()


def test_request_level_throttling_is_retried_by_botocore(fake_bedrock, settings):
    fake_bedrock.error("ThrottlingException", status=429)
    fake_bedrock.stream(answer("after a retry"))

    events = list(model_backend().stream(make_request()))

    assert texts(events) == ["after a retry"]
    assert len(fake_bedrock.requests()) == 2


def test_request_level_throttling_gives_up_after_the_configured_retries(fake_bedrock, settings):
    for _ in range(10):
        fake_bedrock.error("ThrottlingException", status=429)

    with pytest.raises(ModelError):
        model_backend().stream(make_request())

    assert len(fake_bedrock.requests()) == settings.BEDROCK_MAX_RETRIES + 1


def test_client_error_from_stubber_is_mapped(fake_bedrock):
    with Stubber(bedrock_client()) as stubber:
        stubber.add_client_error("converse_stream", service_error_code="AccessDeniedException", http_status_code=403)
        with pytest.raises(ModelError) as caught:
            model_backend().stream(make_request())

    assert caught.value.code == "model_access_denied"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ReadTimeoutError(endpoint_url="https://bedrock"), "model_timeout"),
        (ConnectTimeoutError(endpoint_url="https://bedrock"), "model_timeout"),
        (EndpointConnectionError(endpoint_url="https://bedrock"), "model_unavailable"),
        (Urllib3ReadTimeoutError(None, "https://bedrock", "Read timed out."), "model_timeout"),
        (ProtocolError("Connection broken"), "model_unavailable"),
        (RuntimeError("unexpected"), "model_error"),
    ],
)
def test_transport_errors_are_mapped(exc, expected):
    assert as_model_error(exc).code == expected


def test_connection_broken_mid_stream_is_reported(fake_bedrock):
    raw = fake_bedrock.stream(answer("one", "two", "three"), hold_after=2)
    stream = model_backend().stream(make_request())
    assert next(stream) == TextDelta("one")
    raw.closed.set()  # the connection dies (not our close())
    raw.resume()

    with pytest.raises(ModelError) as caught:
        list(stream)

    assert caught.value.code == "model_unavailable"


def test_close_between_events_closes_the_http_stream_and_ends_iteration(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c", "d"))
    stream = model_backend().stream(make_request())
    assert next(stream) == TextDelta("a")

    stream.close()

    assert raw.closed.is_set()
    assert list(stream) == []
    assert raw.sent < len(raw.frames)


def test_close_from_another_thread_stops_a_blocked_read(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c", "d"), hold_after=3)
    stream = model_backend().stream(make_request())
    received = []
    reader = threading.Thread(target=lambda: received.extend(stream))
    reader.start()
    assert raw.held.wait(5)

    stream.close()
    reader.join(5)

    assert not reader.is_alive()
    assert raw.closed.is_set()
    assert received == [TextDelta("a"), TextDelta("b")]
    assert list(stream) == []


def test_close_interrupts_the_backoff_before_a_retry(fake_bedrock, settings):
    settings.BEDROCK_STREAM_RETRY_BASE_SECONDS = 30.0
    first = fake_bedrock.stream([message_start(), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("must not be requested"))
    stream = model_backend().stream(make_request())
    received = []
    reader = threading.Thread(target=lambda: received.extend(stream))
    reader.start()
    assert first.closed.wait(5)  # the adapter closes the failed stream, then backs off

    stream.close()
    reader.join(5)

    assert not reader.is_alive()
    assert received == []
    assert len(fake_bedrock.requests()) == 1


def test_a_dropped_stream_is_closed(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c"))
    stream = model_backend().stream(make_request())
    next(stream)

    del stream
    gc.collect()

    assert raw.closed.is_set()


def test_context_manager_closes_on_early_exit(fake_bedrock):
    raw = fake_bedrock.stream(answer("a", "b", "c"))

    with model_backend().stream(make_request()) as stream:
        for _ in stream:
            break

    assert raw.closed.is_set()


def test_complete_uses_converse_and_returns_text_and_usage(fake_bedrock):
    fake_bedrock.converse("Filing taxes online", input_tokens=40, output_tokens=5)

    text, usage = model_backend().complete(make_request(max_tokens=30))

    assert text == "Filing taxes online"
    assert usage == StreamUsage(input_tokens=40, output_tokens=5, latency_ms=80)
    [body] = fake_bedrock.requests("Converse")
    assert body["system"][1] == {"cachePoint": {"type": "default"}}
    assert body["inferenceConfig"]["maxTokens"] == 30


def test_complete_error_is_a_model_error(fake_bedrock):
    fake_bedrock.error("AccessDeniedException", status=403, operation="Converse")

    with pytest.raises(ModelError) as caught:
        model_backend().complete(make_request())

    assert caught.value.code == "model_access_denied"


def test_count_tokens_asks_the_foundation_model(fake_bedrock):
    fake_bedrock.count_tokens(1234)

    assert model_backend().count_tokens(make_request()) == 1234

    [call] = [c for c in fake_bedrock.calls if c.operation == "CountTokens"]
    assert call.model_id == "anthropic.claude-sonnet-4-20250514-v1:0"
    assert call.body == {
        "input": {
            "converse": {
                "system": [{"text": "You are the tax agent."}],
                "messages": [{"role": "user", "content": [{"text": "How do I file?"}]}],
            }
        }
    }


def test_count_tokens_returns_none_when_unsupported(fake_bedrock):
    fake_bedrock.error("ValidationException", status=400, message="not supported", operation="CountTokens")

    assert model_backend().count_tokens(make_request()) is None


def test_model_backend_follows_the_setting(settings):
    settings.BEDROCK_MODE = "fake"
    assert isinstance(model_backend(), FakeModel)
    settings.BEDROCK_MODE = "bedrock"
    assert isinstance(model_backend(), BedrockModel)
    settings.BEDROCK_MODE = "openai"
    with pytest.raises(ImproperlyConfigured):
        model_backend()


def test_one_shared_client_sized_for_the_concurrency_setting(settings):
    settings.BEDROCK_MAX_CONCURRENCY = 17
    settings.BEDROCK_MAX_RETRIES = 5
    bedrock_client_reset()
    try:
        with ThreadPoolExecutor(8) as pool:
            clients = list(pool.map(lambda _: bedrock_client(), range(16)))
        assert len({id(c) for c in clients}) == 1
        config = clients[0].meta.config
        assert config.max_pool_connections == 17
        assert config.retries == {"mode": settings.BEDROCK_RETRY_MODE, "total_max_attempts": 6}  # 5 retries + 1
        assert clients[0].meta.region_name == settings.BEDROCK_REGION
    finally:
        bedrock_client_reset()


def test_model_error_speaks_the_application_error_vocabulary():
    error = as_model_error(RuntimeError("x"))

    assert isinstance(error, ApplicationError)
    assert error.as_dict() == {"error": "The model failed to answer.", "code": "model_error"}
