"""The Origin check that guards the WebSocket: cross-site WebSocket hijacking rides on the session cookie.

An origin is a scheme, a host and a port, and it is compared whole, as Django's CSRF check compares it:

- this site's own origin, ``http(s)://<Host header>`` (the scheme of the handshake: ``wss``, or ``ws`` behind a
  proxy that says ``SECURE_PROXY_SSL_HEADER``), when the Host is one of ``ALLOWED_HOSTS``;
- ``CSRF_TRUSTED_ORIGINS`` (exact, or ``https://*.example.com`` for the subdomains of a domain);
- ``CORS_ALLOWED_ORIGINS`` (exact), the SPA's origins.

``ALLOWED_HOSTS`` alone never makes another scheme or port acceptable: ``http://chat.example`` and
``https://chat.example:8443`` are other sites as far as the browser's cookie is concerned.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _scheme(scope: dict[str, Any]) -> str:
    if scope.get("scheme") == "wss":
        return "https"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        name = header.removeprefix("HTTP_").lower().replace("_", "-").encode()
        forwarded = _header(scope, name)
        if forwarded is not None and forwarded.split(",", 1)[0].strip() == secure_value:
            return "https"
    return "http"


def _own_origin(scope: dict[str, Any]) -> str | None:
    """``scheme://host[:port]`` of this site as the browser addressed it, if the Host is an allowed one."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return f"{_scheme(scope)}://{host.lower()}"


def _normalised(origin: str) -> str | None:
    """``scheme://host[:port]`` with the scheme's default port left out, or None for anything that is not one."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    if parts.password or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown_port = "" if port is None or str(port) == _DEFAULT_PORTS[parts.scheme] else f":{port}"
    return f"{parts.scheme}://{host}{shown_port}"


def origin_allowed(origin: str, scope: dict[str, Any]) -> bool:
    """Whether a browser page of ``origin`` may open this WebSocket (see the module docstring)."""
    candidate = _normalised(origin)
    if candidate is None:
        return False  # "null" (sandboxed frames, file:// pages) and anything malformed
    own = _own_origin(scope)
    if own is not None and candidate == _normalised(own):
        return True
    exact = {_normalised(allowed) for allowed in [*settings.CSRF_TRUSTED_ORIGINS, *settings.CORS_ALLOWED_ORIGINS]}
    if candidate in exact:
        return True
    scheme, netloc = candidate.split("://", 1)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted_scheme, _, trusted_netloc = trusted.partition("://")
        # Django's CSRF semantics: "*.example.com" is the domain's subdomains, the port must match exactly.
        wildcard = trusted_scheme == scheme and trusted_netloc.startswith("*.")
        if wildcard and is_same_domain(netloc, trusted_netloc[1:]):
            return True
    return False


class BrowserOriginValidator:
    """Refuses (HTTP 403 at the handshake) browser pages of origins other than the allowed ones.

    Browsers always send ``Origin``; a client without one is not a browser page, carries no ambient cookie of the
    user's, and authenticates with its own token, so it is let through to authentication.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("BrowserOriginValidator guards WebSocket connections only")
        origin = _header(scope, b"origin")
        if origin is None or origin_allowed(origin, scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def websocket_origin_validator(application: Any) -> BrowserOriginValidator:
    return BrowserOriginValidator(application)
