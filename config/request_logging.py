"""One log line per HTTP request: request id, user, method, path, status, latency.

Never logs query strings, headers or bodies: they can carry tokens and chat content.
"""

import json
import logging
import time
import uuid
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from config.auth.identity import owner_id

logger = logging.getLogger("config.requests")

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def _request_id(request: Any) -> str:
    supplied = request.headers.get("X-Request-ID", "")
    return supplied if 0 < len(supplied) <= 64 and supplied.isprintable() else uuid.uuid4().hex


def _user_id(request: Any) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return owner_id(user)


def _log(request: Any, response: Any, started: float) -> None:
    fields = {
        "request_id": request.request_id,
        "user_id": _user_id(request),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    logger.info("%(method)s %(path)s %(status)s %(latency_ms)sms", fields, extra=fields)
    response["X-Request-ID"] = request.request_id


class RequestLogMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        request.request_id = _request_id(request)
        response = self.get_response(request)
        _log(request, response, started)
        return response

    async def _acall(self, request: Any) -> Any:
        started = time.perf_counter()
        request.request_id = _request_id(request)
        response = await self.get_response(request)
        _log(request, response, started)
        return response
