import threading
from functools import wraps

import pytest
from moto.dynamodb.models import DynamoDBBackend

# DynamoDB applies each (conditional) write and each transaction atomically. moto's in-process backend does
# not: update_item reads, checks the condition and writes without a lock, and a cancelled transaction restores
# a deep copy of the whole table, wiping concurrent writes. Tests that race threads serialize moto's item
# operations so the fake gives exactly the per-operation atomicity DynamoDB guarantees (and nothing more).
_ATOMIC_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "query", "transact_write_items")


@pytest.fixture
def atomic_dynamodb(monkeypatch):
    lock = threading.RLock()
    for name in _ATOMIC_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def serialized(*args, _original=original, **kwargs):
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, wraps(original)(serialized))
    return lock
