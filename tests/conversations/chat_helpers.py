"""Helpers for the chat WebSocket tests: a session-authenticated connection, a sendMessage frame, reading frames."""

from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def ws_connect(user=None, *, path: str = "/ws", headers: list | None = None) -> WebsocketCommunicator:
    """A connected communicator on the real ASGI application (origin check, auth stack, routing)."""
    from config.asgi import application

    headers = list(headers or [])
    if user is not None:
        cookie = await sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def send_frame(**fields: Any) -> dict[str, Any]:
    frame = {
        "action": "sendMessage",
        "message": "What is a bond?",
        "engineType": "11",
        "conversationId": "11_1732600000000",
        "idempotencyKey": "key-1",
        "conversationHistory": [],
        "userId": "forged-user",
        "userRole": "admin",
        "timestamp": "2024-11-26T00:00:00.000Z",
    }
    frame.update(fields)
    return {k: v for k, v in frame.items() if v is not ...}


async def frames_until(communicator: WebsocketCommunicator, *types: str, wait: float = 20.0) -> list[dict]:
    """Every frame received up to and including the first one whose type is in ``types``."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=wait)
        frames.append(frame)
        if frame["type"] in types:
            return frames
