"""The one renderer of error bodies outside DRF views, and Django's own error handlers.

Under /api/ Django's errors (unknown URLs, bad requests, crashes) answer JSON ``ApplicationError`` bodies;
elsewhere (admin, chat page) Django's own HTML pages stay.
"""

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from config.errors import ApplicationError, BadRequest, Forbidden, NotFound, PayloadTooLarge, ServerError


def error_response(error: ApplicationError, *, headers: Mapping[str, str] | None = None) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status, headers=headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):  # a SuspiciousOperation to Django, but the answer is a 413
            return error_response(PayloadTooLarge(maxBytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
        return error_response(BadRequest())
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(Forbidden())
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(NotFound())
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return error_response(ServerError())
    return defaults.server_error(request)
