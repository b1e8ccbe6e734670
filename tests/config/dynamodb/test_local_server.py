"""The local DynamoDB (config/dynamodb/local_server.py, ``manage.py dynamodb_local``): one request at a time."""

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from config.dynamodb import local_server
from config.dynamodb.local_server import SerialisedApp
from tests.config.local_servers import LocalDynamoDBServer


class Recording:
    """A WSGI app that notes how many requests run inside it at once, and can be held inside."""

    def __init__(self):
        self.inside = 0
        self.most_inside = 0
        self.count_lock = threading.Lock()
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def __call__(self, environ, start_response):
        with self.count_lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.set()
        self.hold.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"a"
            yield b"b"  # a lazy body: its work must happen under the lock too
            with self.count_lock:
                self.inside -= 1

        return body()


def call(app):
    statuses = []
    body = app({}, lambda status, headers, exc_info=None: statuses.append(status))
    return statuses, body


def test_requests_run_one_at_a_time_lazy_bodies_included():
    inner = Recording()
    app = SerialisedApp(inner)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(app), range(32)))

    assert inner.most_inside == 1
    assert all(result == (["200 OK"], [b"ab"]) for result in results)


def test_the_modelled_latency_is_spent_outside_the_serialised_section(monkeypatch):
    inner = Recording()
    app = SerialisedApp(inner, latency_seconds=0.25)
    slept_while_busy = []
    monkeypatch.setattr(local_server.time, "sleep", lambda seconds: slept_while_busy.append(inner.inside == 1))

    inner.hold.clear()
    first = threading.Thread(target=call, args=(app,))
    first.start()
    assert inner.entered.wait(5)  # the first request is inside moto and holds the lock...
    call_done = threading.Event()
    second = threading.Thread(target=lambda: (call(app), call_done.set()))
    second.start()
    while not slept_while_busy:  # ...and the second one still reaches its latency: not behind the lock
        assert second.is_alive()
        threading.Event().wait(0.01)
    assert not call_done.is_set()  # but its request itself waits for the lock
    inner.hold.set()
    first.join(5)
    second.join(5)
    assert slept_while_busy[-1] is True and call_done.is_set()


def client(server):
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=32, retries={"max_attempts": 1}),
    )


@pytest.mark.server
def test_concurrent_capped_transactions_never_overshoot_or_resurrect_cancelled_writes():
    """The issue's race: a cap of 3 let 5 through on bare moto. Here 24 concurrent claims, a cap of 5."""
    server = LocalDynamoDBServer(latency_ms=2)
    try:
        dynamodb = client(server)
        for name, key in (("caps", "user"), ("claims", "claim")):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        dynamodb.put_item(TableName="caps", Item={"user": {"S": "alice"}, "used": {"N": "0"}})

        def claim(number):
            try:
                dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": "caps",
                                "Key": {"user": {"S": "alice"}},
                                "UpdateExpression": "ADD used :one",
                                "ConditionExpression": "used < :cap",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":cap": {"N": "5"}},
                            }
                        },
                        {"Put": {"TableName": "claims", "Item": {"claim": {"S": f"c{number}"}}}},
                    ]
                )
                return True
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"
                return False

        with ThreadPoolExecutor(24) as pool:
            granted = sum(pool.map(claim, range(24)))

        used = int(dynamodb.get_item(TableName="caps", Key={"user": {"S": "alice"}})["Item"]["used"]["N"])
        claims = dynamodb.scan(TableName="claims")["Items"]
        assert granted == used == len(claims) == 5
    finally:
        server.stop()


@pytest.mark.server
def test_sigterm_stops_the_server_cleanly():
    server = LocalDynamoDBServer()
    assert client(server).list_tables()["TableNames"] == []
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=10) == 0
