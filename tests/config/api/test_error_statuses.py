"""Every status Django or DRF answers under /api/ has a JSON ``ApplicationError`` body with a stable code, from the
one vocabulary (config/errors.py) and its renderers (config/api/errors.py, config/api/exception_handler.py)."""

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from django.core.cache import cache
from django.test import Client
from pynamodb.exceptions import QueryError

import conversations.apis

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def answered(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["error"]
    return body


def test_400_parse_error(alice):
    answered(alice.post("/api/conversations", "{", content_type="application/json"), 400, "parse_error")


def test_401_not_authenticated():
    answered(Client().get("/api/conversations"), 401, "not_authenticated")


def test_403_forbidden(alice):
    answered(alice.get("/api/admin/usage"), 403, "forbidden")


def test_404_not_found(alice):
    answered(alice.get("/api/no-such-thing"), 404, "not_found")


def test_405_method_not_allowed(alice):
    response = alice.put("/api/conversations", "{}", content_type="application/json")
    answered(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("debug", [False, True])  # DEBUG once turned it into Django's HTML page
def test_413_request_too_large(alice, settings, debug):
    settings.DEBUG = debug
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = answered(
        alice.post("/api/conversations", '{"title": "' + "x" * 2000 + '"}', content_type="application/json"),
        413,
        "request_too_large",
    )
    assert body["maxBytes"] == 1000


def test_415_unsupported_media_type(alice):
    answered(alice.post("/api/conversations", "a=b", content_type="text/plain"), 415, "unsupported_media_type")


def test_429_rate_limited(alice, settings):
    settings.API_WRITE_THROTTLE_RATE = "1/min"
    cache.clear()
    try:
        alice.post("/api/conversations", {"conversationId": "11_1"}, content_type="application/json")
        response = alice.post("/api/conversations", {"conversationId": "11_2"}, content_type="application/json")
        body = answered(response, 429, "rate_limited")
        assert body["retryable"] is True and int(response["Retry-After"]) > 0
    finally:
        cache.clear()


def test_500_server_error_says_nothing_about_the_crash(alice, monkeypatch):
    def crash(**kwargs):
        raise KeyError("secret detail")

    monkeypatch.setattr(conversations.apis, "conversation_list", crash)
    body = answered(alice.get("/api/conversations"), 500, "server_error")
    assert "secret" not in str(body)


@pytest.mark.parametrize(
    "cause",
    [
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        ConnectTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
)
def test_503_when_dynamodb_cannot_be_reached(alice, monkeypatch, cause):
    def unreachable(**kwargs):
        raise QueryError("Failed to query items", cause=cause)

    monkeypatch.setattr(conversations.apis, "conversation_list", unreachable)
    response = alice.get("/api/conversations")
    body = answered(response, 503, "dynamodb_unavailable")
    assert body["retryable"] is True and response["Retry-After"] == "1"


def test_503_when_dynamodb_keeps_failing_through_the_real_client(alice, monkeypatch):
    """The real PynamoDB/botocore path: every DynamoDB request fails to connect (botocore's retries included)."""
    from tests.hardening.faults import dynamodb_faults

    with dynamodb_faults() as faults:
        faults.fail("Query", EndpointConnectionError(endpoint_url="http://dynamodb"), times=None)
        response = alice.get("/api/conversations")
    answered(response, 503, "dynamodb_unavailable")
