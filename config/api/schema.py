"""OpenAPI pieces shared by every app's APIs: the error bodies and the Cognito security scheme."""

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

_DESCRIPTIONS = {
    400: "The request is not valid (`code` says why; validation errors add `fields`).",
    401: "Credentials are missing, expired or refused.",
    403: "Authenticated, but not allowed (e.g. another user's data, or staff only).",
    404: "Not found (another user's resources are reported as not found, too).",
    405: "Method not allowed.",
    409: "Conflict (e.g. edited by someone else meanwhile).",
    429: "Too many requests.",
    503: "A dependency (e.g. the user pool's signing keys) is unavailable.",
}


class ErrorSerializer(serializers.Serializer):
    """Every error body: the SPA reads ``error``; clients branch on ``code``."""

    error = serializers.CharField()
    code = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per-field messages of a validation error.")
    retryAfter = serializers.IntegerField(required=False)
    retryable = serializers.BooleanField(required=False)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation; 401 and 429 apply to every authenticated operation."""
    wanted = sorted({*statuses, 401, 429, 503})
    return {status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status]) for status in wanted}


class CognitoJWTScheme(OpenApiAuthenticationExtension):
    target_class = "config.auth.cognito.CognitoJWTAuthentication"
    name = "cognitoJwt"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Cognito access token (or id token) of the configured user pool and app client.",
        }


class AutoSchema(openapi.AutoSchema):
    """Names a nested serializer after its API: ``ConversationListApi.OutputSerializer`` → ``ConversationListOutput``.

    Every API nests an ``InputSerializer``/``OutputSerializer``; by bare class name they would all collide.
    """

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        outer, _, inner = type(serializer).__qualname__.rpartition(".")
        if not outer:
            return inner
        return outer.split(".")[-1].removesuffix("Api") + inner
