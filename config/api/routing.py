"""One URL served by several single-operation APIViews, one per HTTP method.

The SPA's paths put several operations on one URL (``GET`` and ``POST /conversations``); the project's style is
one ``APIView`` per operation. ``method_view(get=ListApi, post=CreateApi)`` dispatches on the method, answers
other methods with a JSON 405, and exposes a combined class as ``.cls`` so drf-spectacular documents every
operation with its own ``@extend_schema``.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from config.api.errors import error_response
from config.errors import MethodNotAllowed


def method_view(**operations: type[APIView]) -> Callable[..., HttpResponse]:
    views = {method.upper(): api.as_view() for method, api in operations.items()}
    if "GET" in views:
        views.setdefault("HEAD", views["GET"])
    allowed = ", ".join([*views, "OPTIONS"])

    @csrf_exempt  # DRF's SessionAuthentication enforces CSRF itself, as on any APIView
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        method = request.method or ""
        if method == "OPTIONS":
            response = next(iter(views.values()))(request, *args, **kwargs)
            response["Allow"] = allowed
            return response
        view = views.get(method)
        if view is None:
            return error_response(MethodNotAllowed(method), headers={"Allow": allowed})
        return view(request, *args, **kwargs)

    # What drf-spectacular introspects: a class whose handlers are the operations' own (decorated) methods.
    name = "".join(api.__name__ for api in operations.values())
    handlers = {method.lower(): getattr(api, method.lower()) for method, api in operations.items()}
    dispatch.cls = type(name, (APIView,), handlers)
    dispatch.initkwargs = {}
    return dispatch
