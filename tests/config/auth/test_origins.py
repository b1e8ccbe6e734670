"""The WebSocket Origin check (config/auth/origins.py), on a tiny consumer and on the real ASGI application."""

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from config.auth.origins import websocket_origin_validator

pytestmark = pytest.mark.django_db(transaction=True)

SPA = "https://spa.example"


class Accepting(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


@pytest.fixture(autouse=True)
def _origins(settings):
    settings.ALLOWED_HOSTS = ["chat.example"]
    settings.CORS_ALLOWED_ORIGINS = [SPA]


async def handshake(origin=None):
    headers = [(b"origin", origin.encode())] if origin is not None else []
    communicator = WebsocketCommunicator(websocket_origin_validator(Accepting.as_asgi()), "/ws", headers=headers)
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("https://chat.example", True),  # this site's own pages
        (SPA, True),
        ("https://evil.example", False),
        ("https://spa.example.evil.example", False),
        ("null", False),  # sandboxed frames and file:// pages send the literal "null"
        (None, True),  # not a browser page: no ambient cookie, authenticates with its own token
    ],
)
async def test_only_this_site_and_the_spa_may_connect_from_a_browser(origin, accepted):
    assert await handshake(origin) is accepted


async def test_the_real_application_refuses_a_foreign_browser_origin(user, engine):
    from config.asgi import application

    communicator = WebsocketCommunicator(application, "/ws", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert connected is False
