"""Keeps the data of the local moto DynamoDB (``make dev``) across restarts.

moto holds everything in memory. Two files in the dev var directory keep it:

- the **journal** (``dynamodb-journal.jsonl``): moto's own recorder (``MOTO_RECORDER_FILEPATH``) appends every
  request it receives, before handling it, and closes the file after each one, so the journal survives even a
  hard kill of the server;
- the **snapshot** (``dynamodb-snapshot.jsonl``): the requests that recreate every table and item of the region,
  as they were at the last start.

``restore()`` runs once per start against a fresh server, before anything else talks to it:

1. recording off, so nothing below is recorded;
2. replay the snapshot, then the journal's write requests (reads are skipped);
3. dump the live state into a new snapshot (temp file, fsync, rename: the old snapshot stays valid until the new
   one is complete), noting the length and hash of the journal it already contains;
4. empty the journal, switch recording on and check that a request really lands in the journal.

A crash between 3 and 4 leaves a journal the new snapshot already contains; the noted hash makes the next start
skip it, so no write (an atomic ``ADD``, say) is ever applied twice. Each start replays at most one session's
writes, so the journal does not grow without bound. Only the tables of one region are kept.
"""

import base64
import hashlib
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

TARGET_PREFIX = "DynamoDB_20120810."
# Requests that change nothing; the journal holds them too (moto records everything) but they are not replayed.
READ_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "ListBackups",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
ENTRY_START = '{"headers"'  # how moto's recorder starts every entry
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SNAPSHOT_FORMAT = 1
BATCH_SIZE = 25  # BatchWriteItem's limit


class LocalDynamoDBError(Exception):
    pass


@dataclass
class RestoreResult:
    tables: int
    items: int
    snapshot_requests: int
    journal_requests: int
    journal_refused: int  # replayed writes DynamoDB refused, as it did the first time (e.g. a failed condition)
    journal_skipped: bool  # the journal was already part of the snapshot (a crash after the last compaction)
    journal_damaged: bool  # the journal held a partial request (hard kill while it was being written), skipped


class MotoClient:
    """A raw DynamoDB wire-protocol client for a local moto server (no signing: moto does not check it)."""

    def __init__(self, endpoint: str, region: str, timeout: float = 30.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or parts.hostname not in LOCAL_HOSTS:
            raise LocalDynamoDBError(f"{endpoint!r} is not a local moto server (http://127.0.0.1:PORT expected)")
        self.host, self.port, self.region, self.timeout = parts.hostname, parts.port or 80, region, timeout

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise LocalDynamoDBError(f"moto at {self.host}:{self.port} is not answering: {exc}") from exc
        finally:
            connection.close()

    def send(
        self, operation: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One request; returns status and parsed body (a replayed request may legitimately fail again)."""
        # moto takes the region from the credential scope of the Authorization header and checks no signature.
        headers = headers or {
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20000101/{self.region}/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        }
        headers = {**headers, "X-Amz-Target": TARGET_PREFIX + operation, "Content-Type": "application/x-amz-json-1.0"}
        status, data = self._post("/", headers, body if isinstance(body, bytes) else json.dumps(body).encode())
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {"message": data[:300].decode(errors="replace")}

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        status, result = self.send(operation, body)
        if status != 200:
            raise LocalDynamoDBError(f"{operation} failed with HTTP {status}: {result}")
        return result

    def recorder(self, action: str) -> None:
        status, data = self._post(f"/moto-api/recorder/{action}", {}, b"")
        if status != 200:
            raise LocalDynamoDBError(f"moto recorder {action} failed with HTTP {status}: {data[:300]!r}")


def journal_requests(data: bytes) -> tuple[list[tuple[str, dict[str, str], bytes]], bool]:
    """The write requests of a journal as ``(operation, headers, body)``, and whether its end was damaged.

    Parsed as a stream of JSON objects rather than by lines: moto writes a long request and its newline with two
    writes, so a concurrent request can slip in between and leave two objects on one line.
    """
    decoder = json.JSONDecoder()
    text = data.decode("utf-8", errors="replace")
    requests, position, damaged = [], 0, False
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            entry, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            # A request cut off by a hard kill (it never reached DynamoDB either): resume at the next entry.
            damaged = True
            position = text.find(ENTRY_START, position + 1)
            if position < 0:
                break
            continue
        headers = entry.get("headers") or {}
        operation = headers.get("X-Amz-Target", "").removeprefix(TARGET_PREFIX)
        if not headers.get("X-Amz-Target", "").startswith(TARGET_PREFIX) or operation in READ_OPERATIONS:
            continue
        body = entry.get("body") or ""
        body_bytes = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
        kept = {name: value for name, value in headers.items() if name.lower() in {"authorization", "x-amz-date"}}
        requests.append((operation, kept, body_bytes))
    return requests, damaged


def _create_table_request(table: dict[str, Any]) -> dict[str, Any]:
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    provisioned = billing != "PAY_PER_REQUEST"

    def throughput(description: dict[str, Any]) -> dict[str, int]:
        values = description.get("ProvisionedThroughput", {})
        return {name: max(1, int(values.get(name, 1))) for name in ("ReadCapacityUnits", "WriteCapacityUnits")}

    request: dict[str, Any] = {
        "TableName": table["TableName"],
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "BillingMode": billing,
    }
    if provisioned:
        request["ProvisionedThroughput"] = throughput(table)
    if table.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
                **({"ProvisionedThroughput": throughput(index)} if provisioned else {}),
            }
            for index in table["GlobalSecondaryIndexes"]
        ]
    if table.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [
            {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
            for i in table["LocalSecondaryIndexes"]
        ]
    if table.get("StreamSpecification", {}).get("StreamEnabled"):
        request["StreamSpecification"] = table["StreamSpecification"]
    return request


def _table_names(client: MotoClient) -> list[str]:
    names: list[str] = []
    body: dict[str, Any] = {}
    while True:
        page = client.call("ListTables", body)
        names += page.get("TableNames", [])
        if not page.get("LastEvaluatedTableName"):
            return names
        body = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}


def _items(client: MotoClient, table_name: str) -> Iterator[dict[str, Any]]:
    body: dict[str, Any] = {"TableName": table_name}
    while True:
        page = client.call("Scan", body)
        yield from page.get("Items", [])
        if not page.get("LastEvaluatedKey"):
            return
        body["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def snapshot_requests(client: MotoClient) -> tuple[list[dict[str, Any]], int, int]:
    """The requests that recreate the server's current state: ``(requests, tables, items)``.

    A Scan of every table: fine for the local stack, never used against real DynamoDB (``MotoClient`` refuses).
    """
    requests: list[dict[str, Any]] = []
    item_count = 0
    names = _table_names(client)
    for name in names:
        table = client.call("DescribeTable", {"TableName": name})["Table"]
        requests.append({"operation": "CreateTable", "body": _create_table_request(table)})
        ttl = client.call("DescribeTimeToLive", {"TableName": name}).get("TimeToLiveDescription", {})
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
            requests.append(
                {"operation": "UpdateTimeToLive", "body": {"TableName": name, "TimeToLiveSpecification": spec}}
            )
        batch: list[dict[str, Any]] = []
        for item in _items(client, name):
            batch.append({"PutRequest": {"Item": item}})
            item_count += 1
            if len(batch) == BATCH_SIZE:
                requests.append({"operation": "BatchWriteItem", "body": {"RequestItems": {name: batch}}})
                batch = []
        if batch:
            requests.append({"operation": "BatchWriteItem", "body": {"RequestItems": {name: batch}}})
    return requests, len(names), item_count


def snapshot_read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not path.exists():
        return {}, []
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines or lines[0].get("format") != SNAPSHOT_FORMAT:
        raise LocalDynamoDBError(f"{path} is not a snapshot this version understands; move it away to start empty")
    return lines[0], lines[1:]


def snapshot_write(path: Path, meta: dict[str, Any], requests: list[dict[str, Any]]) -> None:
    """Replace the snapshot atomically: a crash leaves either the old or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(json.dumps(meta) + "\n")
        for request in requests:
            file.write(json.dumps(request, ensure_ascii=False) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _replay_snapshot(client: MotoClient, requests: list[dict[str, Any]]) -> None:
    for request in requests:
        body = request["body"]
        while body:
            result = client.call(request["operation"], body)
            # Real DynamoDB may hand back unprocessed items; moto does not, but a replay must not drop any.
            unprocessed = result.get("UnprocessedItems")
            body = {"RequestItems": unprocessed} if unprocessed else None


def restore(*, endpoint: str, region: str, snapshot_path: Path, journal_path: Path) -> RestoreResult:
    """Load the saved data into a fresh moto server and start journaling (see the module docstring)."""
    client = MotoClient(endpoint, region)
    if _table_names(client):  # checked first: a refused restore must leave a running server's journaling alone
        raise LocalDynamoDBError(
            "the local DynamoDB already holds tables; restore only runs against a freshly started moto_server "
            "(replaying onto existing data would apply writes twice)"
        )
    client.recorder("stop-recording")

    meta, saved = snapshot_read(snapshot_path)
    journal = journal_path.read_bytes() if journal_path.exists() else b""
    included = int(meta.get("journal_bytes", 0))
    skipped = included > 0 and hashlib.sha256(journal[:included]).hexdigest() == meta.get("journal_sha256")
    if skipped:
        journal = journal[included:]

    _replay_snapshot(client, saved)
    writes, damaged = journal_requests(journal)
    refused = 0
    for operation, headers, body in writes:
        if client.send(operation, body, headers)[0] != 200:
            refused += 1

    requests, tables, items = snapshot_requests(client)
    whole_journal = journal_path.read_bytes() if journal_path.exists() else b""
    snapshot_write(
        snapshot_path,
        {
            "format": SNAPSHOT_FORMAT,
            "region": region,
            "journal_bytes": len(whole_journal),
            "journal_sha256": hashlib.sha256(whole_journal).hexdigest(),
        },
        requests,
    )
    journal_path.write_bytes(b"")
    client.recorder("start-recording")
    client.call("ListTables", {"Limit": 1})
    if not journal_path.exists() or journal_path.stat().st_size == 0:
        raise LocalDynamoDBError(
            f"moto is not recording into {journal_path}: start moto_server with MOTO_RECORDER_FILEPATH={journal_path}"
        )
    return RestoreResult(
        tables=tables,
        items=items,
        snapshot_requests=len(saved),
        journal_requests=len(writes),
        journal_refused=refused,
        journal_skipped=skipped,
        journal_damaged=damaged,
    )
