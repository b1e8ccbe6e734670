"""The ConverseStream/Converse wire format on both clients (async stream, sync Converse/CountTokens).

Request parameters, the mapping of raw stream events to ``config.bedrock.events``, and of every botocore,
urllib3 and aiohttp failure to a ``ModelError`` with a stable code.
"""

from typing import Any

import aiohttp
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from django.conf import settings
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeoutError

from config.bedrock.events import ModelError, ModelEvent, ModelRequest, StreamStop, StreamUsage, TextDelta, model_error


def client_options() -> dict[str, Any]:
    """The ``Config`` arguments of both bedrock-runtime clients (sync for Converse/CountTokens, async for streams)."""
    return {
        "max_pool_connections": settings.BEDROCK_MAX_CONCURRENCY,
        "connect_timeout": settings.BEDROCK_CONNECT_TIMEOUT_SECONDS,
        "read_timeout": settings.BEDROCK_READ_TIMEOUT_SECONDS,
        "retries": {"mode": settings.BEDROCK_RETRY_MODE, "max_attempts": settings.BEDROCK_MAX_RETRIES},
        "tcp_keepalive": True,
    }


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
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | Urllib3ReadTimeoutError | TimeoutError):
        return model_error("model_timeout", str(exc))
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | Urllib3Error | aiohttp.ClientError):
        return model_error("model_unavailable", str(exc))
    if isinstance(exc, NoCredentialsError):
        return model_error("model_access_denied", str(exc))
    if isinstance(exc, ParamValidationError):
        return model_error("model_invalid_request", str(exc))
    return model_error("model_error", f"{type(exc).__name__}: {exc}")


def error_code(exc: Exception) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")).lower() if isinstance(exc, ClientError) else ""


def normalize(raw: dict[str, Any]) -> ModelEvent | None:
    """One ConverseStream event as a normalized event; ``None`` for events the product does not use."""
    if "contentBlockDelta" in raw:
        text = raw["contentBlockDelta"].get("delta", {}).get("text")
        return TextDelta(text) if text else None
    if "messageStop" in raw:
        return StreamStop(raw["messageStop"].get("stopReason", "end_turn"))
    if "metadata" in raw:
        return usage_from(raw["metadata"].get("usage", {}), raw["metadata"].get("metrics", {}))
    return None


def usage_from(usage: dict[str, Any], metrics: dict[str, Any]) -> StreamUsage:
    latency = metrics.get("latencyMs")
    return StreamUsage(
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        cache_read_tokens=int(usage.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(usage.get("cacheWriteInputTokens", 0)),
        latency_ms=int(latency) if latency is not None else None,
    )
