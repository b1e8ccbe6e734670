"""Authentication of WebSocket connections: sets ``scope["user"]`` before the consumer runs.

Credentials, first found wins:
1. a Cognito token in the ``Sec-WebSocket-Protocol`` header: the client offers the two subprotocols
   ``bearer`` and ``bearer.<token>`` (``new WebSocket(url, ["bearer", "bearer." + token])``); the handshake
   answer selects ``bearer``, so the token is never echoed back;
2. a Cognito token in the ``?token=<token>`` query parameter (what the original SPA sends);
3. the Django session cookie (the built-in chat page, the admin's users).

A token that is present but refused never falls back to the session: ``scope["user"]`` is then
``AnonymousUser`` and ``scope["auth_error"]`` is the ApplicationError saying why (``TokenRejected``, or
``AuthUnavailable`` when the pool's keys cannot be fetched). The consumer refuses the connection with it and
``close_code_for(error)``.
"""

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

from config.aio import run_io
from config.auth.cognito import cognito_token_verify, cognito_user_from_claims
from config.errors import ApplicationError

SUBPROTOCOL = "bearer"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
# 4401/4403 mirror HTTP's 401/403 in the range RFC 6455 leaves to applications; 1013 is "try again later".
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN_LATER = 1013


def close_code_for(error: ApplicationError) -> int:
    """The close code of a connection refused with ``error``: 401 → 4401, 403 → 4403, 5xx (e.g. 503) → 1013."""
    if error.status >= 500:
        return CLOSE_TRY_AGAIN_LATER
    return CLOSE_UNAUTHENTICATED if error.status == 401 else CLOSE_FORBIDDEN


def _offered_subprotocols(scope: dict[str, Any]) -> list[str]:
    return [p.strip() for p in scope.get("subprotocols") or [] if isinstance(p, str)]


def _token_from(scope: dict[str, Any]) -> str | None:
    for protocol in _offered_subprotocols(scope):
        if protocol.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return protocol[len(BEARER_SUBPROTOCOL_PREFIX) :]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token") or []
    return tokens[0] if tokens and tokens[0] else None


def _selecting_subprotocol(send: Any) -> Any:
    """Answers the handshake with ``bearer``: a browser that offered subprotocols fails a handshake without one."""

    async def send_with_subprotocol(message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": SUBPROTOCOL}
        await send(message)

    return send_with_subprotocol


class CognitoTokenMiddleware:
    """Replaces the session user with the user of a Cognito token, when the connection carries one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        if SUBPROTOCOL in _offered_subprotocols(scope):
            send = _selecting_subprotocol(send)
        token = _token_from(scope)
        if token is None:
            return await self.inner(scope, receive, send)

        scope = dict(scope)
        try:
            claims = await run_io(cognito_token_verify, token)  # may fetch the JWKS: blocking I/O
            scope["user"] = await database_sync_to_async(cognito_user_from_claims)(claims)
            scope["auth_method"] = "cognito"
        except ApplicationError as error:  # a refused token, or keys that cannot be fetched
            scope["user"] = AnonymousUser()
            scope["auth_error"] = error
        return await self.inner(scope, receive, send)


def websocket_auth_stack(inner: Any) -> Any:
    """Session authentication first, then a Cognito token (subprotocol or ``?token=``) overrides it."""
    return AuthMiddlewareStack(CognitoTokenMiddleware(inner))
