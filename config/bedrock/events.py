"""What every model backend (Bedrock, the offline fake) speaks: the request, normalized stream events, errors.

The turn service and the consumer use these types (re-exported by ``config.bedrock.client``), never boto3 or the
wire format.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from config.errors import ApplicationError


@dataclass(frozen=True)
class ModelRequest:
    """One model call. ``messages`` alternate ``{"role": "user"|"assistant", "text": str}``, starting with user.

    ``top_p=None`` (or ``temperature=None``) leaves the parameter out of the call, so the model's default applies.
    """

    model_id: str
    system_text: str
    messages: list[dict]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamStop:
    stop_reason: str


@dataclass(frozen=True)
class StreamUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: int | None = None


ModelEvent = TextDelta | StreamStop | StreamUsage


def request_text(request: ModelRequest) -> str:
    """Everything a request sends as input, for estimates."""
    return "\n".join([request.system_text, *(m["text"] for m in request.messages)])


class ModelError(ApplicationError):
    """A model call failed. ``code`` is one of ``MODEL_ERROR_CODES``; ``retryable`` tells the client to resend."""

    code = "model_error"
    status = 502
    message = "The model failed to answer."


# code -> (HTTP-ish status, retryable, message). Stable: clients branch on these codes.
MODEL_ERROR_CODES: dict[str, tuple[int, bool, str]] = {
    "model_throttled": (429, True, "The model is busy (throttled); try again shortly."),
    "model_unavailable": (503, True, "The model service is unavailable; try again shortly."),
    "model_timeout": (504, True, "The model did not answer in time; try again."),
    "model_invalid_request": (400, False, "The model rejected the request."),
    "model_access_denied": (403, False, "This model is not enabled for the service's AWS account."),
    "model_error": (502, True, "The model failed to answer."),
}


def model_error(code: str, detail: str | None = None) -> ModelError:
    """A ``ModelError`` with the status, retryability and message that belong to ``code``."""
    status, retryable, message = MODEL_ERROR_CODES[code]
    error = ModelError(message, code=code, status=status, retryable=retryable)
    error.detail = detail  # for logs only: upstream messages may leak internals, so clients never see them
    return error


# What ``ModelBackend.stream`` returns: an async iterator (an async generator) of events. Stopping is cancelling the
# task iterating it, or ``aclose()``: either closes the upstream stream, so the model stops generating.
ModelStream = AsyncIterator[ModelEvent]


class ModelBackend(Protocol):
    def stream(self, request: ModelRequest) -> ModelStream: ...

    def complete(self, request: ModelRequest) -> tuple[str, StreamUsage]: ...

    def count_tokens(self, request: ModelRequest) -> int | None: ...
