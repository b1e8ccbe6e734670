"""WebSocket routes (``/ws``, the path the SPA connects to) and the Origin check that guards them."""

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws", ChatConsumer.as_asgi()),
    path("ws/", ChatConsumer.as_asgi()),
]


class BrowserOriginValidator(OriginValidator):
    """Refuses browser pages of foreign origins (cross-site WebSocket hijacking rides on the session cookie).

    Browsers always send ``Origin``; a client without one is not a browser page, carries no ambient cookie of the
    user's, and authenticates with its own token, so it is let through to authentication.
    """

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def websocket_origin_validator(application):
    """Allowed: this site's hosts (``ALLOWED_HOSTS``) and the SPA's origins (``CORS_ALLOWED_ORIGINS``)."""
    return BrowserOriginValidator(application, [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS])
