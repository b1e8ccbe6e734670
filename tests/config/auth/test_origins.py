"""The WebSocket Origin check (config/auth/origins.py), on a tiny consumer and on the real ASGI application.

An origin is scheme + host + port, compared whole as Django's CSRF check does: this site's own origin (the
handshake's scheme and Host), CSRF_TRUSTED_ORIGINS and CORS_ALLOWED_ORIGINS.
"""

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from config.auth.origins import origin_allowed, websocket_origin_validator

pytestmark = pytest.mark.django_db(transaction=True)

SPA = "https://spa.example"


class Accepting(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


@pytest.fixture(autouse=True)
def _origins(settings):
    settings.ALLOWED_HOSTS = ["chat.example", "127.0.0.1"]
    settings.CORS_ALLOWED_ORIGINS = [SPA]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.trusted.example", "http://admin.example:8080"]
    settings.SECURE_PROXY_SSL_HEADER = None


async def handshake(origin=None, *, host="chat.example", scheme="wss", extra=()):
    headers = [(b"host", host.encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(websocket_origin_validator(Accepting.as_asgi()), "/ws", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("https://chat.example", True),  # this site's own pages, as the browser addressed it
        ("https://chat.example:443", True),  # the same origin with its default port spelled out
        ("https://CHAT.example", True),  # hosts are case-insensitive
        ("http://chat.example", False),  # another scheme: a plain-http page of the same host
        ("https://chat.example:8443", False),  # the same host on another port is another site
        ("https://other.example", False),  # not the Host of this handshake
        (SPA, True),  # CORS_ALLOWED_ORIGINS, exactly
        ("http://spa.example", False),
        ("https://spa.example:444", False),
        ("https://spa.example.evil.example", False),  # look-alikes
        ("https://evilspa.example", False),
        ("https://spa.example@evil.example", False),
        ("https://a.trusted.example", True),  # CSRF_TRUSTED_ORIGINS wildcard: subdomains, same scheme
        ("https://trusted.example", True),
        ("http://a.trusted.example", False),
        ("https://a.trusted.example:8443", False),
        ("https://eviltrusted.example", False),
        ("http://admin.example:8080", True),  # CSRF_TRUSTED_ORIGINS exact, port included
        ("http://admin.example", False),
        ("null", False),  # sandboxed frames and file:// pages send the literal "null"
        ("", False),
        ("https://chat.example/path", False),  # not an origin at all
        ("chat.example", False),
        ("ftp://chat.example", False),
        ("https://chat.example:99999", False),
        (None, True),  # not a browser page: no ambient cookie, authenticates with its own token
    ],
)
async def test_browser_origins_must_match_scheme_host_and_port(origin, accepted):
    assert await handshake(origin) is accepted


async def test_the_own_origin_follows_the_handshake_scheme_and_port():
    assert await handshake("http://127.0.0.1:6666", host="127.0.0.1:8000", scheme="ws") is False  # the case
    assert await handshake("http://127.0.0.1:8000", host="127.0.0.1:8000", scheme="ws") is True
    assert await handshake("https://127.0.0.1:8000", host="127.0.0.1:8000", scheme="ws") is False
    assert await handshake("https://chat.example", host="chat.example", scheme="ws") is False


async def test_a_host_outside_allowed_hosts_is_never_its_own_origin():
    assert await handshake("https://evil.example", host="evil.example") is False


async def test_behind_a_tls_proxy_the_forwarded_scheme_counts_when_the_settings_trust_it(settings):
    forwarded = ((b"x-forwarded-proto", b"https"),)
    assert await handshake("https://chat.example", scheme="ws", extra=forwarded) is False  # header not trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await handshake("https://chat.example", scheme="ws", extra=forwarded) is True
    assert await handshake("http://chat.example", scheme="ws", extra=forwarded) is False


def test_origin_allowed_without_a_host_header_uses_the_configured_origins_only():
    assert origin_allowed(SPA, {"type": "websocket", "headers": []})
    assert not origin_allowed("https://chat.example", {"type": "websocket", "headers": []})


async def test_the_real_application_refuses_a_foreign_browser_origin(user, engine):
    from config.asgi import application

    communicator = WebsocketCommunicator(application, "/ws", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await communicator.connect()
    assert connected is False
