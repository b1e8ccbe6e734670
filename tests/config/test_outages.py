"""Outages of DynamoDB and Bedrock become retryable 503 errors (config/outages.py)."""

import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pynamodb.exceptions import GetError, PutError, TransactWriteError

from config.errors import ApplicationError
from config.outages import outage_error, unexpected_error


def client_error(code, status, operation="PutItem"):
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
        GetError("x", cause=ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")),
        PutError("x", cause=client_error("InternalServerError", 500)),
        PutError("x", cause=client_error("ProvisionedThroughputExceededException", 400)),
        RuntimeError("wrapped"),  # with an outage as its cause, set below
    ],
)
def test_dynamodb_outages_are_503_dynamodb_unavailable(exc):
    if isinstance(exc, RuntimeError):
        exc.__cause__ = PutError("x", cause=client_error("ServiceUnavailable", 503))
    error = outage_error(exc)
    assert (error.code, error.status, error.retryable) == ("dynamodb_unavailable", 503, True)


def test_bedrock_outages_are_upstream_unavailable():
    error = outage_error(EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"))
    assert (error.code, error.status) == ("upstream_unavailable", 503)


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("bug"),
        PutError("x", cause=client_error("ConditionalCheckFailedException", 400)),
        PutError("x", cause=client_error("ValidationException", 400)),
        TransactWriteError("x", cause=client_error("TransactionCanceledException", 400, "TransactWriteItems")),
    ],
)
def test_what_the_request_asked_wrongly_is_no_outage(exc):
    assert outage_error(exc) is None


def test_an_unexpected_error_is_logged_with_the_request_id_it_answers(caplog):
    with caplog.at_level(logging.ERROR, logger="config.outages"):
        error = unexpected_error(KeyError("bug"), what="a frame")
    assert isinstance(error, ApplicationError) and error.code == "internal_error" and error.retryable
    (record,) = caplog.records
    assert record.request_id == error.extra["requestId"] and record.exc_info[0] is KeyError
