"""The Origin check that guards the WebSocket: cross-site WebSocket hijacking rides on the session cookie."""

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuses browser pages of foreign origins.

    Browsers always send ``Origin``; a client without one is not a browser page, carries no ambient cookie of the
    user's, and authenticates with its own token, so it is let through to authentication.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def websocket_origin_validator(application: Any) -> BrowserOriginValidator:
    """Allowed: this site's hosts (``ALLOWED_HOSTS``) and the SPA's origins (``CORS_ALLOWED_ORIGINS``)."""
    return BrowserOriginValidator(application, [*settings.ALLOWED_HOSTS, *settings.CORS_ALLOWED_ORIGINS])
