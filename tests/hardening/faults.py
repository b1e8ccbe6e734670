"""DynamoDB faults injected with botocore event hooks on the real PynamoDB clients (``before-send``).

``dynamodb_faults()`` registers a hook, first in line (ahead of moto's), on the botocore client of every model's
connection and of the transactions' connection. A fault names the operation, optionally which request of it
(``when`` sees the request's JSON body), what happens (an exception raised as the HTTP send's, such as
``EndpointConnectionError``, or an HTTP status answered with DynamoDB's error body) and how many times. botocore's
own retries see these failures as they would see real ones.
"""

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from config.dynamodb.tables import all_models, connection

_ERROR_TYPES = {500: "InternalServerError", 503: "ServiceUnavailable", 400: "ThrottlingException"}


def _table_of(item: dict[str, Any]) -> str:
    (operation,) = item.values()
    return operation["TableName"]


def transaction_writes(body: dict[str, Any], kind: str, table: str) -> bool:
    """Whether a TransactWriteItems body has a ``kind`` (Put, Update, Delete, ConditionCheck) on ``table``."""
    return any(kind in item and _table_of(item).endswith(table) for item in body.get("TransactItems", []))


# The requests of a turn, recognised by what they write (docs/architecture.md, "One sendMessage").
def begin(body: dict[str, Any]) -> bool:
    return transaction_writes(body, "Put", "idempotency")


def finish(body: dict[str, Any]) -> bool:
    return transaction_writes(body, "Update", "idempotency") and transaction_writes(body, "Put", "messages")


def title_reservation(body: dict[str, Any]) -> bool:
    return not transaction_writes(body, "Put", "idempotency") and transaction_writes(body, "Put", "reservations")


def title_settlement(body: dict[str, Any]) -> bool:
    return not transaction_writes(body, "Update", "idempotency") and transaction_writes(body, "Update", "reservations")


def table(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body.get("TableName", "").endswith(name)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data


@dataclass
class Fault:
    operation: str
    error: Exception | int
    times: int | None
    when: Callable[[dict[str, Any]], bool] | None
    hits: int = 0

    def applies(self, operation: str, body: dict[str, Any]) -> bool:
        if operation != self.operation or (self.times is not None and self.hits >= self.times):
            return False
        return self.when is None or self.when(body)


@dataclass
class DynamoDBFaults:
    faults: list[Fault] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def fail(
        self,
        operation: str,
        error: Exception | int,
        *,
        times: int | None = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Fault:
        """``times=None``: every matching request, for as long as the faults are installed."""
        fault = Fault(operation, error, times, when)
        self.faults.append(fault)
        return fault

    def before_send(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
        body = json.loads(request.body or b"{}")
        self.sent.append((operation, body))
        for fault in self.faults:
            if fault.applies(operation, body):
                fault.hits += 1
                if isinstance(fault.error, Exception):
                    raise fault.error
                error_type = _ERROR_TYPES.get(fault.error, "InternalServerError")
                payload = {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": "injected"}
                headers = {"x-amzn-ErrorType": error_type, "Content-Type": "application/x-amz-json-1.0"}
                return AWSResponse(request.url, fault.error, headers, _Body(json.dumps(payload).encode()))
        return None


def _clients() -> list[Any]:
    clients = {id(c): c for c in [m._get_connection().connection.client for m in all_models()]}
    clients[id(connection().client)] = connection().client
    return list(clients.values())


@contextlib.contextmanager
def dynamodb_faults() -> Iterator[DynamoDBFaults]:
    """Install the hooks for the block; botocore's retry backoff is zero meanwhile, so retries cost no time."""
    faults = DynamoDBFaults()
    clients = _clients()
    delay = ExponentialBackoff.delay_amount
    ExponentialBackoff.delay_amount = lambda self, context: 0.0
    for client in clients:
        client.meta.events.register_first("before-send.dynamodb", faults.before_send)
    try:
        yield faults
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.dynamodb", faults.before_send)
        ExponentialBackoff.delay_amount = delay
