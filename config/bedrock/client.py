"""The one module that talks to Amazon Bedrock (``bedrock-runtime``: ConverseStream, Converse, CountTokens).

``model_backend()`` returns the backend chosen by ``settings.BEDROCK_MODE``: ``"bedrock"`` (this module) or
``"fake"`` (``config.bedrock.fake``, offline). Both speak ``config.bedrock.events``:

- ``stream(request)`` returns an async iterator of ``TextDelta`` ... ``StreamStop``, ``StreamUsage``, read by
  aiobotocore on the event loop (``config.bedrock.stream``): no thread waits for a token. Request-level errors
  raise ``ModelError`` from the first ``__anext__``, in-stream errors after the deltas that came before them.
  Stopping is cancelling the reading task (or ``aclose()``): the HTTP response is closed, so Bedrock stops
  generating. No usage is reported for a closed stream; estimate it with ``config.bedrock.tokens.tokens_estimate``.
- ``complete(request) -> (text, StreamUsage)``: one Converse call (titles), blocking: run it in the I/O pool.
- ``count_tokens(request) -> int | None``: CountTokens, blocking; ``None`` when the model or account does not
  support it.

Converse and CountTokens stay on the sync boto3 client: each is one short request per new conversation or per
uncached system prompt, called from sync services that also do DynamoDB work in the same I/O-pool thread, so
moving them would add a loop hop per call and buy no concurrency (docs/performance.md, "Why aiobotocore").

Retries: botocore retries request-level errors itself (``BEDROCK_RETRY_MODE``, ``BEDROCK_MAX_RETRIES``). An error
that arrives *inside* the stream is retried by re-opening only while the caller has received nothing.
"""

import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.bedrock.converse import as_model_error, client_options, converse_params, usage_from
from config.bedrock.events import (
    MODEL_ERROR_CODES,
    ModelBackend,
    ModelError,
    ModelEvent,
    ModelRequest,
    ModelStream,
    StreamStop,
    StreamUsage,
    TextDelta,
)
from config.bedrock.fake import FakeModel
from config.bedrock.model_ids import base_model_id
from config.bedrock.stream import bedrock_stream, bedrock_stream_reset

__all__ = [
    "MODEL_ERROR_CODES",
    "BedrockModel",
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
                    config=Config(**client_options()),
                )
    return _client


def bedrock_client_reset() -> None:
    """Drop the shared clients (sync and stream); the next call builds them from the current settings (tests)."""
    global _client
    with _client_lock:
        _client = None
    bedrock_stream_reset()


class BedrockModel:
    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        return bedrock_stream(converse_params(request))

    def complete(self, request: ModelRequest) -> tuple[str, StreamUsage]:
        try:
            response = bedrock_client().converse(**converse_params(request))
        except Exception as exc:
            error = as_model_error(exc)
            logger.warning("Bedrock converse failed: %s (%s)", error.code, error.detail)
            raise error from exc
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in blocks)
        return text, usage_from(response.get("usage", {}), response.get("metrics", {}))

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
