"""Authentication of WebSocket connections: sets ``scope["user"]`` before the consumer runs."""

from channels.auth import AuthMiddlewareStack


def websocket_auth_stack(inner):
    """Django session authentication (the built-in chat page, the admin's users)."""
    return AuthMiddlewareStack(inner)
