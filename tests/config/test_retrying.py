"""Riding out a DynamoDB outage: retried while the service or network fails, for a bounded time only."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pynamodb.exceptions import PutError

from config.retrying import dynamodb_unavailable, retry_while_unavailable


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")


def unreachable() -> PutError:
    return PutError("Failed to put item", cause=EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))


def test_network_and_service_failures_are_retryable_refusals_are_not():
    assert dynamodb_unavailable(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert dynamodb_unavailable(unreachable())
    assert not dynamodb_unavailable(ValueError("a bug"))
    assert dynamodb_unavailable(PutError("failed", cause=client_error("InternalServerError", 500)))
    assert dynamodb_unavailable(PutError("failed", cause=client_error("ThrottlingException", 400)))
    # What was asked was refused: retrying cannot help.
    assert not dynamodb_unavailable(PutError("failed", cause=client_error("ConditionalCheckFailedException", 400)))
    assert not dynamodb_unavailable(PutError("failed", cause=client_error("ValidationException", 400)))


async def test_a_short_outage_is_ridden_out():
    calls = []

    async def store():
        calls.append(1)
        if len(calls) < 3:
            raise unreachable()
        return "stored"

    assert await retry_while_unavailable(store, within=5, first_delay=0.01) == "stored"
    assert len(calls) == 3


async def test_a_long_outage_gives_up_within_the_bound_and_a_bug_at_once():
    calls = []

    async def store():
        calls.append(1)
        raise unreachable()

    with pytest.raises(PutError):
        await retry_while_unavailable(store, within=0.2, first_delay=0.05)
    assert 2 <= len(calls) <= 5

    async def broken():
        calls.append(1)
        raise ValueError("a bug")

    calls.clear()
    with pytest.raises(ValueError):
        await retry_while_unavailable(broken, within=5, first_delay=0.01)
    assert len(calls) == 1
