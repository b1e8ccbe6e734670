"""The Bedrock adapter's sync half (Converse for titles, CountTokens) against replies served through botocore's
before-send hook, the error mapping both halves share, and the backend switch. ConverseStream: test_stream.py."""

from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from config.bedrock.client import (
    BedrockModel,
    ModelError,
    StreamUsage,
    bedrock_client,
    bedrock_client_reset,
    model_backend,
)
from config.bedrock.converse import as_model_error
from config.bedrock.fake import FakeModel
from config.errors import ApplicationError
from tests.bedrock_frames import make_request


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ReadTimeoutError(endpoint_url="https://bedrock"), "model_timeout"),
        (ConnectTimeoutError(endpoint_url="https://bedrock"), "model_timeout"),
        (EndpointConnectionError(endpoint_url="https://bedrock"), "model_unavailable"),
        (Urllib3ReadTimeoutError(None, "https://bedrock", "Read timed out."), "model_timeout"),
        (ProtocolError("Connection broken"), "model_unavailable"),
        (aiohttp.ClientConnectionError("Connection closed"), "model_unavailable"),
        (aiohttp.ServerDisconnectedError(), "model_unavailable"),
        (TimeoutError(), "model_timeout"),
        (RuntimeError("unexpected"), "model_error"),
    ],
)
def test_transport_errors_are_mapped(exc, expected):
    assert as_model_error(exc).code == expected


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
