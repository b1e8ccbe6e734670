"""JSON answers for errors Django raises outside DRF (unknown URLs, crashes) under /api/.

Elsewhere (admin, chat page) Django's own HTML pages stay.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "Internal server error.", "code": "server_error"}, status=500)
    return defaults.server_error(request)
