"""The language of one WebSocket connection, negotiated as Django negotiates an HTTP request's.

REST requests get theirs from ``django.middleware.locale.LocaleMiddleware``; a WebSocket has no middleware of that
kind, so the consumer calls ``language_activate`` at the handshake. Django keeps the active language in a context
variable: set in the consumer's task, it holds for every frame of that socket, and the tasks the consumer starts
(a generation) copy it, as do the ``run_io`` threads (asgiref copies the context).
"""

from django.http import HttpRequest
from django.utils import translation


def language_from_scope(scope: dict) -> str:
    """The best of ``settings.LANGUAGES`` for the handshake's ``Accept-Language`` (else ``LANGUAGE_CODE``)."""
    request = HttpRequest()
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)


def language_activate(scope: dict) -> str:
    """Activate the handshake's language for the current context (the connection's task); returns it."""
    language = language_from_scope(scope)
    translation.activate(language)
    return language
