"""The one module that talks to Amazon Bedrock (``bedrock-runtime``: ConverseStream, Converse, CountTokens).

``model_backend()`` returns the backend chosen by ``settings.BEDROCK_MODE``: ``"bedrock"`` (this module) or
``"fake"`` (``config.bedrock.fake``, offline). Both speak ``config.bedrock.events``:

- ``stream(request)`` opens a generation and returns a blocking iterator of ``TextDelta`` ... ``StreamStop``,
  ``StreamUsage``. Request-level errors raise ``ModelError`` from ``stream()`` itself, in-stream errors from the
  iterator (after the deltas that came before them). ``close()`` may be called from any thread: it closes the
  HTTP response, so Bedrock stops generating, and the iterator then ends without further events (no usage is
  reported for a closed stream; estimate it with ``config.bedrock.tokens.tokens_estimate``).
- ``complete(request) -> (text, StreamUsage)``: one Converse call (titles).
- ``count_tokens(request) -> int | None``: CountTokens, ``None`` when the model or account does not support it.

Retries: botocore retries request-level errors itself (``BEDROCK_RETRY_MODE``, ``BEDROCK_MAX_RETRIES``). An error
that arrives *inside* the stream (throttling, service unavailable, internal error) is retried by re-opening the
stream with backoff only while the caller has received nothing; once an event was delivered it is reported,
never retried, so an answer is never duplicated or silently restarted.
"""

import logging
import random
import threading
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from config.bedrock.events import (
    MODEL_ERROR_CODES,
    ClosableEventStream,
    ModelBackend,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelStream,
    StreamStop,
    StreamUsage,
    TextDelta,
    model_error,
)
from config.bedrock.fake import FakeModel
from config.bedrock.model_ids import base_model_id

__all__ = [
    "MODEL_ERROR_CODES",
    "BedrockModel",
    "BedrockStream",
    "ModelBackend",
    "ModelError",
    "ModelEvent",
    "ModelRequest",
    "ModelStream",
    "StreamStop",
    "StreamUsage",
    "TextDelta",
    "bedrock_client",
    "bedrock_client_reset",
    "converse_params",
    "model_backend",
]

logger = logging.getLogger(__name__)

# Errors Bedrock may send inside the stream that are worth a fresh attempt while nothing was delivered yet.
STREAM_RETRYABLE_CODES = {"throttlingexception", "serviceunavailableexception", "internalserverexception"}

# Lower-cased error code -> ModelError code. Stream exception frames use camelCase, API errors PascalCase.
ERROR_CODE_MAP = {
    "throttlingexception": "model_throttled",
    "toomanyrequestsexception": "model_throttled",
    "servicequotaexceededexception": "model_throttled",
    "serviceunavailableexception": "model_unavailable",
    "internalserverexception": "model_unavailable",
    "modelnotreadyexception": "model_unavailable",
    "modeltimeoutexception": "model_timeout",
    "validationexception": "model_invalid_request",
    "resourcenotfoundexception": "model_invalid_request",
    "accessdeniedexception": "model_access_denied",
    "unrecognizedclientexception": "model_access_denied",
    "expiredtokenexception": "model_access_denied",
    "modelerrorexception": "model_error",
    "modelstreamerrorexception": "model_error",
}

_client = None
_client_lock = threading.Lock()


def bedrock_client():
    """The process's one ``bedrock-runtime`` client (thread-safe), with a pool sized for concurrent streams."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = boto3.session.Session().client(
                    "bedrock-runtime",
                    region_name=settings.BEDROCK_REGION,
                    config=Config(
                        max_pool_connections=settings.BEDROCK_MAX_CONCURRENCY,
                        connect_timeout=settings.BEDROCK_CONNECT_TIMEOUT_SECONDS,
                        read_timeout=settings.BEDROCK_READ_TIMEOUT_SECONDS,
                        retries={"mode": settings.BEDROCK_RETRY_MODE, "max_attempts": settings.BEDROCK_MAX_RETRIES},
                        tcp_keepalive=True,
                    ),
                )
    return _client


def bedrock_client_reset() -> None:
    """Drop the shared client; the next call builds one from the current settings (tests, settings changes)."""
    global _client
    with _client_lock:
        _client = None


def converse_params(request: ModelRequest) -> dict[str, Any]:
    """The Converse/ConverseStream arguments: the static system prompt, then a cache point, then the turns."""
    params: dict[str, Any] = {
        "modelId": request.model_id,
        "messages": [{"role": m["role"], "content": [{"text": m["text"]}]} for m in request.messages],
        "inferenceConfig": inference_config(request),
    }
    if request.system_text:
        params["system"] = [{"text": request.system_text}]
        if settings.BEDROCK_PROMPT_CACHING:
            # Everything before the cache point is cached by Bedrock, so only static text may come before it.
            params["system"].append({"cachePoint": {"type": "default"}})
    return params


def inference_config(request: ModelRequest) -> dict[str, Any]:
    """``None`` leaves a parameter out; models listed in ``BEDROCK_TEMPERATURE_ONLY_MODELS`` never get top_p
    next to a temperature (they reject the pair with a ValidationException)."""
    config: dict[str, Any] = {"maxTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    temperature_only = any(name in request.model_id for name in settings.BEDROCK_TEMPERATURE_ONLY_MODELS)
    if request.top_p is not None and not (temperature_only and request.temperature is not None):
        config["topP"] = request.top_p
    return config


def as_model_error(exc: Exception) -> ModelError:
    """Any botocore/urllib3 failure as a ``ModelError`` with a stable code."""
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = ERROR_CODE_MAP.get(str(error.get("Code", "")).lower(), "model_error")
        return model_error(code, f"{error.get('Code')}: {error.get('Message')}")
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | Urllib3ReadTimeoutError):
        return model_error("model_timeout", str(exc))
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | Urllib3Error):
        return model_error("model_unavailable", str(exc))
    if isinstance(exc, NoCredentialsError):
        return model_error("model_access_denied", str(exc))
    if isinstance(exc, ParamValidationError):
        return model_error("model_invalid_request", str(exc))
    return model_error("model_error", f"{type(exc).__name__}: {exc}")


def _error_code(exc: Exception) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")).lower() if isinstance(exc, ClientError) else ""


def _normalize(raw: dict[str, Any]) -> ModelEvent | None:
    """One ConverseStream event as a normalized event; ``None`` for events the product does not use."""
    if "contentBlockDelta" in raw:
        text = raw["contentBlockDelta"].get("delta", {}).get("text")
        return TextDelta(text) if text else None
    if "messageStop" in raw:
        return StreamStop(raw["messageStop"].get("stopReason", "end_turn"))
    if "metadata" in raw:
        return _usage(raw["metadata"].get("usage", {}), raw["metadata"].get("metrics", {}))
    return None


def _usage(usage: dict[str, Any], metrics: dict[str, Any]) -> StreamUsage:
    latency = metrics.get("latencyMs")
    return StreamUsage(
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        cache_read_tokens=int(usage.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(usage.get("cacheWriteInputTokens", 0)),
        latency_ms=int(latency) if latency is not None else None,
    )


class BedrockStream(ClosableEventStream):
    """One ConverseStream generation. Opening happens in the constructor, so request errors raise there."""

    def __init__(self, client, params: dict[str, Any]) -> None:
        self._client = client
        self._params = params
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._event_stream = None
        self._open()
        self._events = self._generate()

    def __del__(self) -> None:
        if hasattr(self, "_lock"):  # the constructor may have failed before
            self.close()

    def close(self) -> None:
        """Closes the HTTP response (Bedrock stops generating); a read blocked in another thread then ends."""
        with self._lock:
            self._closed.set()
            event_stream, self._event_stream = self._event_stream, None
        if event_stream is not None:
            try:
                event_stream.close()
            except Exception:  # closing a broken connection must not fail the caller
                logger.debug("closing the Bedrock event stream failed", exc_info=True)

    def _open(self) -> None:
        try:
            response = self._client.converse_stream(**self._params)
        except Exception as exc:
            raise as_model_error(exc) from exc
        with self._lock:
            if not self._closed.is_set():
                self._event_stream = response["stream"]
                return
        response["stream"].close()  # closed while the request was in flight

    def _generate(self) -> Iterator[ModelEvent]:
        retries = 0
        while True:
            delivered = False
            event_stream = self._event_stream
            if event_stream is None:
                return
            try:
                for raw in event_stream:
                    event = _normalize(raw)
                    if event is not None:
                        delivered = True
                        yield event
                return
            except Exception as exc:
                if self._closed.is_set():
                    return  # the read failed because close() shut the connection
                error = as_model_error(exc)
                if (
                    delivered
                    or _error_code(exc) not in STREAM_RETRYABLE_CODES
                    or retries >= settings.BEDROCK_MAX_RETRIES
                ):
                    logger.warning("Bedrock stream failed: %s (%s)", error.code, error.detail)
                    raise error from exc
                retries += 1
                logger.info(
                    "Bedrock stream error before the first token (%s); re-opening, retry %d", error.detail, retries
                )
                event_stream.close()
                # Event.wait, not sleep: close() interrupts the backoff.
                if self._closed.wait(_backoff(retries)):
                    return
                self._open()


def _backoff(retry: int) -> float:
    base = settings.BEDROCK_STREAM_RETRY_BASE_SECONDS * 2 ** (retry - 1)
    return base * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not cryptography)


class BedrockModel:
    def stream(self, request: ModelRequest) -> BedrockStream:
        return BedrockStream(bedrock_client(), converse_params(request))

    def complete(self, request: ModelRequest) -> tuple[str, StreamUsage]:
        try:
            response = bedrock_client().converse(**converse_params(request))
        except Exception as exc:
            error = as_model_error(exc)
            logger.warning("Bedrock converse failed: %s (%s)", error.code, error.detail)
            raise error from exc
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in blocks)
        return text, _usage(response.get("usage", {}), response.get("metrics", {}))

    def count_tokens(self, request: ModelRequest) -> int | None:
        converse: dict[str, Any] = {
            "messages": [{"role": m["role"], "content": [{"text": m["text"]}]} for m in request.messages]
        }
        if request.system_text:
            converse["system"] = [{"text": request.system_text}]
        try:
            # CountTokens wants the foundation model, not an inference profile.
            response = bedrock_client().count_tokens(
                modelId=base_model_id(request.model_id), input={"converse": converse}
            )
        except (ClientError, BotoCoreError) as exc:
            logger.info("CountTokens unavailable for %s: %s", request.model_id, exc)
            return None
        return int(response["inputTokens"])


_backends: dict[str, ModelBackend] = {"bedrock": BedrockModel(), "fake": FakeModel()}


def model_backend() -> ModelBackend:
    """The backend selected by ``settings.BEDROCK_MODE`` (read on every call)."""
    try:
        return _backends[settings.BEDROCK_MODE]
    except KeyError:
        raise ImproperlyConfigured(f"BEDROCK_MODE must be 'bedrock' or 'fake', got {settings.BEDROCK_MODE!r}") from None
