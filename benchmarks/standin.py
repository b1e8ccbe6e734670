"""The load levels' DynamoDB stand-in: ``python -m benchmarks.standin [--latency-ms 5]``.

An in-memory DynamoDB of this project's design, made so that it is not the bottleneck of a load level: an aiohttp
server speaking DynamoDB's JSON protocol over HTTP (what botocore sends), with tables, items and secondary indexes
in dicts (benchmarks/standin_tables.py) and expressions parsed once per expression string
(benchmarks/standin_expressions.py, standin_updates.py). Each request first waits ``--latency-ms`` (default 5 ms,
DynamoDB's typical single-digit latency) on the event loop, so requests overlap as they do against the real
service, then runs to its end without yielding: every request is atomic and a transaction is all-or-nothing.

It serves the operations this project sends (tests/benchmarks/test_standin.py runs the turn's services and the
REST API against it and against moto and compares the tables): the table operations of ``create_tables``, item
get/put/update/delete with conditions, Query (tables and indexes, filters, paging, ``Select=COUNT``), Scan,
BatchGet/BatchWrite and TransactGet/TransactWrite with cancellation reasons. It does not model item size limits,
1 MB pages, TTL expiry, streams or capacity; anything else is refused with ``UnknownOperationException``.

Why not moto: moto spends about 150 ms of CPU per turn (its update-expression AST walks and item copies), so a
moto stand-in serves about 7 turns/s and set the pace of every load level (docs/performance.md, "Measured steps").

``POST /moto-api/reset`` drops every table (moto's path, so the benchmark helper resets both alike). Prints
``dynamodb_local ready on URL`` once it listens on 127.0.0.1 (a free port); serves until SIGTERM/SIGINT.
"""

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from benchmarks.standin_expressions import ValidationError
from benchmarks.standin_tables import ConditionFailed, InUse, NotFound, Store, TransactionCanceled

READY_LINE = "dynamodb_local ready on"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_CONTENT_TYPE = "application/x-amz-json-1.0"


def _create_table(store: Store, request: dict) -> dict:
    return {"TableDescription": store.create(request).describe()}


def _delete_table(store: Store, request: dict) -> dict:
    table = store.table(request["TableName"])
    del store.tables[table.name]
    return {"TableDescription": {**table.describe(), "TableStatus": "DELETING"}}


def _update_time_to_live(store: Store, request: dict) -> dict:
    store.table(request["TableName"]).ttl = request["TimeToLiveSpecification"]
    return {"TimeToLiveSpecification": request["TimeToLiveSpecification"]}


def _describe_time_to_live(store: Store, request: dict) -> dict:
    ttl = store.table(request["TableName"]).ttl
    if not ttl or not ttl.get("Enabled"):
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}}


OPERATIONS: dict[str, Callable[[Store, dict], dict]] = {
    "CreateTable": _create_table,
    "DescribeTable": lambda store, request: {"Table": store.table(request["TableName"]).describe()},
    "DeleteTable": _delete_table,
    "ListTables": lambda store, request: {"TableNames": sorted(store.tables)},
    "UpdateTimeToLive": _update_time_to_live,
    "DescribeTimeToLive": _describe_time_to_live,
    "GetItem": lambda store, request: store.get(request),
    "PutItem": lambda store, request: store.put(request),
    "UpdateItem": lambda store, request: store.update(request),
    "DeleteItem": lambda store, request: store.delete(request),
    "Query": lambda store, request: store.query(request),
    "Scan": lambda store, request: store.scan(request),
    "BatchGetItem": lambda store, request: store.batch_get(request),
    "BatchWriteItem": lambda store, request: store.batch_write(request),
    "TransactGetItems": lambda store, request: store.transact_get(request),
    "TransactWriteItems": lambda store, request: store.transact_write(request),
}


def _error(kind: str, message: str, status: int = 400, **extra: object) -> web.Response:
    body = {"__type": kind if "#" in kind else _PREFIX + kind, "message": message, **extra}
    return web.Response(status=status, body=json.dumps(body).encode(), content_type=_CONTENT_TYPE)


def answer(store: Store, operation: str, request: dict) -> web.Response:
    """One request, applied whole; DynamoDB's error types and messages for what fails."""
    handler = OPERATIONS.get(operation)
    if handler is None:
        return _error("UnknownOperationException", f"The stand-in does not serve {operation or 'this request'}")
    try:
        result = handler(store, request)
    except ConditionFailed as exc:
        extra = (
            {"Item": exc.item} if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and exc.item else {}
        )
        return _error("ConditionalCheckFailedException", str(exc), **extra)
    except TransactionCanceled as exc:
        return _error("TransactionCanceledException", str(exc), CancellationReasons=exc.reasons)
    except NotFound as exc:
        return _error("ResourceNotFoundException", str(exc))
    except InUse as exc:
        return _error("ResourceInUseException", str(exc))
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        return _error("com.amazon.coral.validate#ValidationException", f"{type(exc).__name__}: {exc}")
    return web.Response(body=json.dumps(result).encode(), content_type=_CONTENT_TYPE)


def make_app(*, latency_seconds: float) -> web.Application:
    store = Store()

    async def dynamodb(request: web.Request) -> web.Response:
        body = await request.read()
        if latency_seconds:
            await asyncio.sleep(latency_seconds)
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return _error("SerializationException", "The request body is not JSON")
        return answer(store, operation, parsed)

    async def reset(request: web.Request) -> web.Response:
        store.tables.clear()
        return web.json_response({"reset": True})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app["store"] = store
    app.router.add_post("/moto-api/reset", reset)
    app.router.add_post("/", dynamodb)
    return app


async def serve(*, latency_seconds: float) -> None:
    runner = web.AppRunner(make_app(latency_seconds=latency_seconds), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"{READY_LINE} http://127.0.0.1:{port}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=5.0, help="waited per request before it is applied")
    parser.add_argument("--region", default="us-east-1", help="accepted for compatibility; tables are not regional")
    args = parser.parse_args(argv)
    asyncio.run(serve(latency_seconds=args.latency_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
