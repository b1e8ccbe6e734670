"""Which failures are outages of a service we depend on: 503 with a retryable code, never a 500 or ``internal_error``.

An outage is what ``config.retrying.dynamodb_unavailable`` says is one (a botocore connection or timeout error, or
a status botocore kept getting after its retries: 5xx, throttling), met directly or anywhere in the exception's
chain of causes. Bedrock errors met inside a turn are already ``ModelError``s (config/bedrock/client.py); those
that reach here come from other calls (e.g. the admin preview).
"""

import logging
import uuid
from collections.abc import Iterator

from botocore.exceptions import ClientError
from django.utils.translation import gettext_lazy as _

from config.errors import ApplicationError, DynamoDBUnavailable, UpstreamUnavailable
from config.retrying import dynamodb_unavailable

logger = logging.getLogger(__name__)

_BEDROCK_OPERATIONS = frozenset({"Converse", "ConverseStream", "CountTokens", "InvokeModel"})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = getattr(node, "cause", None) or node.__cause__ or node.__context__


def _is_bedrock(error: BaseException) -> bool:
    error = getattr(error, "cause", None) or error
    if isinstance(error, ClientError):
        return error.operation_name in _BEDROCK_OPERATIONS
    return "bedrock" in str(getattr(error, "kwargs", {}).get("endpoint_url", ""))


def outage_error(exc: BaseException) -> UpstreamUnavailable | None:
    """The 503 error to answer for ``exc`` if it is an outage of DynamoDB or Bedrock, else None."""
    for cause in _causes(exc):
        if dynamodb_unavailable(cause):
            if _is_bedrock(cause):
                return UpstreamUnavailable("The model service is unavailable; try again shortly.")
            return DynamoDBUnavailable()
    return None


def unexpected_error(exc: BaseException, *, what: str) -> ApplicationError:
    """The coded error a client gets for ``exc``, which nothing expected: the outage's (logged as a warning) or a
    retryable ``internal_error`` whose ``requestId`` finds its traceback in the log."""
    outage = outage_error(exc)
    if outage is not None:
        logger.warning("%s met an outage: %s", what, outage.code, exc_info=exc)
        return outage
    request_id = uuid.uuid4().hex
    logger.error("%s failed (request %s)", what, request_id, exc_info=exc, extra={"request_id": request_id})
    return ApplicationError(
        _("The message could not be processed."), code="internal_error", retryable=True, requestId=request_id
    )
