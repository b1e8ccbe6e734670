"""DRF exception handler rendering every error as ``{"error", "code", ...}``."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from pynamodb.exceptions import DoesNotExist
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError

# DRF's default codes, renamed where the original vocabulary already has a word for it.
_DRF_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "not_authenticated",
    "permission_denied": "forbidden",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "rate_limited",
    "parse_error": "parse_error",
}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, (DoesNotExist, Http404)):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"error": _first_message(exc.detail), "code": "invalid", "fields": fields}
        return response
    code = exc.get_codes() if isinstance(exc, drf.APIException) else "error"
    code = code if isinstance(code, str) else "error"
    body = {"error": _first_message(getattr(exc, "detail", str(exc))), "code": _DRF_CODES.get(code, code)}
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        body["retryAfter"] = int(exc.wait)
        body["retryable"] = True
    response.data = body
    return response
