import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf

from config.api.exception_handler import exception_handler
from config.auth.cognito import AuthenticationRefused, AuthUnavailable, TokenRejected
from config.errors import Conflict, NotFound, QuotaExceeded, UpstreamUnavailable, ValidationFailed
from prompts.models import EngineType


def render(exc):
    response = exception_handler(exc, {})
    return response.status_code, response.data


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            NotFound("Conversation not found", code="conversation_not_found"),
            404,
            {"error": "Conversation not found", "code": "conversation_not_found"},
        ),
        (Conflict(), 409, {"error": Conflict.message, "code": "conflict"}),
        (
            QuotaExceeded(limit=10, used=10, remaining=0, resetsAt="2026-04-01T00:00:00Z"),
            429,
            {
                "error": QuotaExceeded.message,
                "code": "quota_exceeded",
                "limit": 10,
                "used": 10,
                "remaining": 0,
                "resetsAt": "2026-04-01T00:00:00Z",
            },
        ),
        (
            UpstreamUnavailable("Bedrock is down", retryable=True),
            503,
            {"error": "Bedrock is down", "code": "upstream_unavailable"},
        ),
        (
            ValidationFailed("Bad", fields={"title": ["Too long"]}),
            400,
            {"error": "Bad", "code": "invalid", "fields": {"title": ["Too long"]}},
        ),
    ],
)
def test_application_errors_render_error_code_and_extra(exc, status, body):
    assert render(exc) == (status, body)


def test_drf_validation_errors_name_the_fields():
    status, body = render(drf.ValidationError({"title": ["This field is required."]}))

    assert status == 400
    assert body == {
        "error": "This field is required.",
        "code": "invalid",
        "fields": {"title": ["This field is required."]},
    }


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (drf.NotAuthenticated(), 401, "not_authenticated"),
        (drf.AuthenticationFailed(), 401, "not_authenticated"),
        (drf.PermissionDenied(), 403, "forbidden"),
        (PermissionDenied(), 403, "forbidden"),
        (Http404(), 404, "not_found"),
        (EngineType.DoesNotExist(), 404, "not_found"),
        (drf.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
    ],
)
def test_framework_errors_use_the_same_shape(exc, status, code):
    rendered_status, body = render(exc)

    assert rendered_status == status
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]


def test_throttling_says_when_to_retry():
    status, body = render(drf.Throttled(wait=12))

    assert status == 429
    assert body == {"error": body["error"], "code": "rate_limited", "retryAfter": 12, "retryable": True}


def test_unexpected_errors_are_left_to_django():
    assert exception_handler(RuntimeError("boom"), {}) is None


@pytest.mark.parametrize(
    ("error", "status", "challenge"),
    [
        (TokenRejected("The token has expired.", code="token_expired"), 401, 'Bearer realm="api"'),
        (AuthUnavailable(), 503, None),
    ],
)
def test_refusals_during_authentication_render_the_carried_error(error, status, challenge):
    response = exception_handler(AuthenticationRefused(error, challenge='Bearer realm="api"'), {})

    assert (response.status_code, response.data) == (status, error.as_dict())
    assert response.headers.get("WWW-Authenticate") == challenge
