"""Per-user request rates of the REST API, read from settings at request time.

Writes are limited (``API_WRITE_THROTTLE_RATE``); reads are unlimited unless ``API_READ_THROTTLE_RATE`` is set,
because the SPA polls ``/api/usage/...`` about twice per streamed chunk and must not be cut off mid-answer.
Counters live in Django's cache (per process with the default local-memory cache).
"""

from typing import Any

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from config.auth.identity import owner_id

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OFF = frozenset({"off", "none", "0"})


class _UserRateThrottle(SimpleRateThrottle):
    setting_name = ""

    def __init__(self) -> None:
        # SimpleRateThrottle reads its rates once at import; these follow the settings of the moment.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        rate = getattr(settings, self.setting_name)
        return None if not rate or rate.strip().lower() in _OFF else rate

    def applies_to(self, request: Any) -> bool:
        raise NotImplementedError

    def allow_request(self, request: Any, view: Any) -> bool:
        if not self.applies_to(request):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str:
        user = request.user
        ident = owner_id(user) if user is not None and user.is_authenticated else self.get_ident(request)
        return f"throttle_{self.scope}_{ident}"


class WriteRateThrottle(_UserRateThrottle):
    scope = "write"
    setting_name = "API_WRITE_THROTTLE_RATE"

    def applies_to(self, request: Any) -> bool:
        return request.method not in _SAFE_METHODS


class ReadRateThrottle(_UserRateThrottle):
    scope = "read"
    setting_name = "API_READ_THROTTLE_RATE"

    def applies_to(self, request: Any) -> bool:
        return request.method in _SAFE_METHODS
