"""DRF exception handler: every error a view raises answers an ``ApplicationError`` body, ``{"error", "code", ...}``.

DRF's own exceptions are turned into ApplicationErrors after DRF's handler has built its response, which keeps its
headers (``WWW-Authenticate``, ``Retry-After``, ``Allow``), its content negotiation and its transaction rollback.
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from pynamodb.exceptions import DoesNotExist
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.api.fields import FIELD_REFUSAL_CODES
from config.auth.cognito import AuthenticationRefused
from config.errors import ApplicationError, PayloadTooLarge, RateLimited, ValidationFailed
from config.outages import outage_error

logger = logging.getLogger(__name__)

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


class _Throttled(RateLimited):
    def as_dict(self) -> dict[str, Any]:
        # DRF's throttle answer has always said so in the body; the other REST errors do not.
        return {**super().as_dict(), "retryable": True}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        return _first_message(next(iter(detail.values())))
    return str(detail)


def _first_code(codes: Any) -> Any:
    while isinstance(codes, list | dict) and codes:
        codes = codes[0] if isinstance(codes, list) else next(iter(codes.values()))
    return codes


def _application_error(exc: drf.APIException, status: int) -> ApplicationError:
    if isinstance(exc, AuthenticationRefused):
        return exc.error
    message = _first_message(exc.detail)
    if isinstance(exc, drf.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        code = _first_code(exc.get_codes())
        return ValidationFailed(message, fields=fields, code=code if code in FIELD_REFUSAL_CODES else None)
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        return _Throttled(message, retryAfter=int(exc.wait))
    code = exc.get_codes()
    code = _DRF_CODES.get(code, code) if isinstance(code, str) else "error"
    return ApplicationError(message, code=code, status=status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        # Raised wherever the body is first read (DRF's CSRF check reads request.POST); a SuspiciousOperation to
        # Django, which answers it with an HTML page when DEBUG is on. It is the client's too-large body: a 413.
        exc = PayloadTooLarge(maxBytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status)
    outage = outage_error(exc)
    if outage is not None:
        logger.warning("%s: answered %s", outage.code, outage.status, exc_info=exc)
        body = {**outage.as_dict(), "retryable": True}
        return Response(body, status=outage.status, headers={"Retry-After": "1"})
    if isinstance(exc, (DoesNotExist, Http404)):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = _application_error(exc, response.status_code).as_dict()
    return response
