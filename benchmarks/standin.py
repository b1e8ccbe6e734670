"""The load levels' DynamoDB stand-in: ``python -m benchmarks.standin [--latency-ms 5]``.

It is the project's local DynamoDB (config/dynamodb/local_server.py ``LocalDynamoDB``: moto's server app behind a
front that applies one request at a time, so it is as atomic as DynamoDB, with ``--latency-ms`` slept per
request *outside* that section, so requests overlap as they do against the real service), with one change:
a transaction backs up only the items it touches.

moto's ``TransactWriteItems`` deep-copies the whole table named by each of its items, once per item, to roll
back on a cancel. Its cost grows with everything the table holds: in a 1,000-stream level every begin and
finish transaction copied the thousands of messages and usage rows the level had written so far, the stand-in
took 1.3 GB and a whole core, and it, not the server, set the pace (docs/performance.md). The front applies one
request at a time, so restoring the touched items on a cancel gives exactly moto's rollback.

Prints ``dynamodb_local ready on URL`` once it listens on 127.0.0.1 (a free port); serves until SIGTERM/SIGINT.
"""

import argparse
import copy
import sys

import moto.dynamodb.models as moto_models
from moto.dynamodb.models.table import Table

from config.dynamodb.local_server import LocalDynamoDB

READY_LINE = "dynamodb_local ready on"
_transact_write_items = moto_models.DynamoDBBackend.transact_write_items


class _TablesNotCopied:
    """moto's ``copy`` inside ``transact_write_items``: tables are not copied (the touched items are)."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched(backend, transact_items: list[dict]) -> list[tuple[str, dict, dict | None]]:
    """(table, key, attributes before or None) of every item a transaction may write."""
    backups = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if op_type not in ("Put", "Update", "Delete") or table is None:
            continue
        if op_type == "Put":
            names = [n for n in (table.hash_key_attr, table.range_key_attr) if n is not None]
            if not all(n in op.get("Item", {}) for n in names):
                continue  # moto refuses it before writing anything
            key = {n: op["Item"][n] for n in names}
        else:
            key = op.get("Key", {})
        try:
            current = backend.get_item(table.name, key)
        except Exception:  # noqa: S112  (a bad key: moto's own validation answers the request)
            continue
        backups.append((table.name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return backups


def transact_write_items_item_backup(self, transact_items: list[dict]) -> None:
    backups = _touched(self, transact_items)
    moto_models.copy = _TablesNotCopied
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attributes in reversed(backups):
            if attributes is not None:
                self.put_item(table_name, attributes)
            elif self.get_item(table_name, key) is not None:
                self.delete_item(table_name, key)
        raise
    finally:
        moto_models.copy = copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=5.0, help="per request, outside the serialised section")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)
    moto_models.DynamoDBBackend.transact_write_items = transact_write_items_item_backup
    store = LocalDynamoDB(host="127.0.0.1", port=0, region=args.region, latency_seconds=args.latency_ms / 1000)
    store.start()
    print(f"{READY_LINE} {store.endpoint}", flush=True)
    store.serve_until_signalled()
    return 0


if __name__ == "__main__":
    sys.exit(main())
