"""Riding out a short DynamoDB outage: the one bounded retry policy for writes that must not be lost.

botocore already retries each request a few times within about a second; a store that outlasts that (a network
cut, a failover, 5xx) is retried here with exponential backoff until ``within`` seconds have passed.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError
from pynamodb.exceptions import PynamoDBException

R = TypeVar("R")

_UNAVAILABLE_CODES = {
    "InternalServerError",
    "ServiceUnavailable",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
}


def dynamodb_unavailable(exc: BaseException) -> bool:
    """The request failed for the service's or the network's sake (worth retrying), not for what it asked."""
    if isinstance(exc, BotoCoreError):
        return True
    if not isinstance(exc, PynamoDBException) or getattr(exc, "cancellation_reasons", None):
        return False
    if isinstance(exc.cause, BotoCoreError):
        return True
    status = (getattr(exc.cause, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return exc.cause_response_code in _UNAVAILABLE_CODES or status >= 500


async def retry_while_unavailable(
    call: Callable[[], Awaitable[R]], *, within: float, first_delay: float = 0.2, max_delay: float = 2.0
) -> R:
    """``await call()``, retried while it fails with ``dynamodb_unavailable`` errors, for at most ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + within, first_delay
    while True:
        try:
            return await call()
        except Exception as exc:
            if not dynamodb_unavailable(exc) or loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
