"""The stand-in's tables: items by key, global and local secondary indexes kept on every write, and the item
operations a turn and the REST API use (get, put, update, delete, query, scan, batches, transactions).

Every operation runs to its end without yielding (the server calls it on its one event loop), so each request is
atomic and a transaction's checks and writes are all-or-nothing, as DynamoDB's are.
"""

import copy
import time
from typing import Any

from benchmarks.standin_expressions import (
    Env,
    Item,
    ValidationError,
    condition_holds,
    parse_condition,
    parse_projection,
    project,
    scalar,
)
from benchmarks.standin_updates import update_apply

Key = tuple  # (hash scalar, range scalar or None)


class ConditionFailed(Exception):
    def __init__(self, item: Item | None) -> None:
        super().__init__("The conditional request failed")
        self.item = item


class NotFound(Exception):
    """DynamoDB's ``ResourceNotFoundException``."""


class InUse(Exception):
    """DynamoDB's ``ResourceInUseException``."""


class TransactionCanceled(Exception):
    def __init__(self, reasons: list[dict]) -> None:
        codes = ", ".join(reason["Code"] for reason in reasons)
        super().__init__(f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]")
        self.reasons = reasons


def _key_names(schema: list[dict]) -> tuple[str, str | None]:
    names = {element["KeyType"]: element["AttributeName"] for element in schema}
    return names["HASH"], names.get("RANGE")


class _Index:
    def __init__(self, description: dict) -> None:
        self.name = description["IndexName"]
        self.hash, self.range = _key_names(description["KeySchema"])
        projection = description.get("Projection", {"ProjectionType": "ALL"})
        self.projection = projection["ProjectionType"]
        self.non_key = set(projection.get("NonKeyAttributes", []))
        self.entries: dict[Any, dict[tuple, Key]] = {}  # index hash -> {(index range, table key): table key}

    def position(self, item: Item, table_key: Key) -> tuple[Any, tuple] | None:
        if self.hash not in item or (self.range and self.range not in item):
            return None  # a sparse index: the item is not in it
        return scalar(item[self.hash]), (scalar(item[self.range]) if self.range else None, table_key)


class Table:
    def __init__(self, request: dict) -> None:
        self.name = request["TableName"]
        self.hash, self.range = _key_names(request["KeySchema"])
        self.request = copy.deepcopy(request)
        self.created = time.time()
        self.ttl: dict | None = None
        self.items: dict[Any, dict[Any, Item]] = {}
        self.indexes = {
            index["IndexName"]: _Index(index)
            for index in request.get("GlobalSecondaryIndexes", []) + request.get("LocalSecondaryIndexes", [])
        }

    def key_names(self) -> tuple[str, ...]:
        return (self.hash, self.range) if self.range else (self.hash,)

    def key_of(self, key: Item) -> Key:
        names = self.key_names()
        if set(key) != set(names):
            raise ValidationError("The provided key element does not match the schema")
        return scalar(key[self.hash]), (scalar(key[self.range]) if self.range else None)

    def get(self, key: Key) -> Item | None:
        return self.items.get(key[0], {}).get(key[1])

    def write(self, key: Key, item: Item | None) -> None:
        """Store ``item`` under ``key`` (None deletes), keeping every index in step."""
        old = self.get(key)
        for index in self.indexes.values():
            if old is not None and (position := index.position(old, key)) is not None:
                index.entries.get(position[0], {}).pop(position[1], None)
            if item is not None and (position := index.position(item, key)) is not None:
                index.entries.setdefault(position[0], {})[position[1]] = key
        if item is None:
            partition = self.items.get(key[0], {})
            partition.pop(key[1], None)
            if not partition:
                self.items.pop(key[0], None)
        else:
            self.items.setdefault(key[0], {})[key[1]] = item

    def count(self) -> int:
        return sum(len(partition) for partition in self.items.values())

    def describe(self) -> dict:
        request, arn = self.request, f"arn:aws:dynamodb:us-east-1:123456789012:table/{self.name}"
        billing = request.get("BillingMode", "PROVISIONED")
        throughput = request.get("ProvisionedThroughput", {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0})
        description = {
            "TableName": self.name,
            "TableStatus": "ACTIVE",
            "TableArn": arn,
            "KeySchema": request["KeySchema"],
            "AttributeDefinitions": request["AttributeDefinitions"],
            "CreationDateTime": self.created,
            "ItemCount": self.count(),
            "TableSizeBytes": 0,
            "BillingModeSummary": {"BillingMode": billing},
            "ProvisionedThroughput": {**throughput, "NumberOfDecreasesToday": 0},
        }
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if request.get(kind):
                description[kind] = [
                    {**index, "IndexStatus": "ACTIVE", "IndexArn": f"{arn}/index/{index['IndexName']}", "ItemCount": 0}
                    for index in request[kind]
                ]
        return description


def _env(request: dict) -> Env:
    return Env(request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues"))


def _check(request: dict, current: Item | None) -> None:
    expression = request.get("ConditionExpression")
    if expression and not condition_holds(parse_condition(expression), current or {}, _env(request)):
        raise ConditionFailed(current)


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}

    def table(self, name: str) -> Table:
        if name not in self.tables:
            raise NotFound(f"Requested resource not found: Table: {name} not found")
        return self.tables[name]

    def create(self, request: dict) -> Table:
        if request["TableName"] in self.tables:
            raise InUse(f"Table already exists: {request['TableName']}")
        table = self.tables[request["TableName"]] = Table(request)
        return table

    # Single items: each returns (new or old item as ReturnValues asks, ...) in the response's shape.
    def put(self, request: dict) -> dict:
        table, item = self.table(request["TableName"]), request["Item"]
        key = table.key_of({name: item[name] for name in table.key_names() if name in item})
        current = table.get(key)
        _check(request, current)
        table.write(key, copy.deepcopy(item))
        return {"Attributes": current} if request.get("ReturnValues") == "ALL_OLD" and current else {}

    def get(self, request: dict) -> dict:
        table = self.table(request["TableName"])
        item = table.get(table.key_of(request["Key"]))
        if item is None:
            return {}
        if request.get("ProjectionExpression"):
            item = project(item, parse_projection(request["ProjectionExpression"]), _env(request))
        return {"Item": item}

    def update(self, request: dict) -> dict:
        table = self.table(request["TableName"])
        key = table.key_of(request["Key"])
        current = table.get(key)
        _check(request, current)
        before = current if current is not None else copy.deepcopy(request["Key"])
        after, touched = update_apply(before, request["UpdateExpression"], _env(request), key_names=table.key_names())
        table.write(key, after)
        returned = request.get("ReturnValues", "NONE")
        chosen = {"ALL_NEW": after, "ALL_OLD": current or {}}.get(returned)
        if returned == "UPDATED_NEW":
            chosen = {name: after[name] for name in touched if name in after}
        elif returned == "UPDATED_OLD":
            chosen = {name: current[name] for name in touched if current and name in current}
        return {"Attributes": chosen} if chosen else {}

    def delete(self, request: dict) -> dict:
        table = self.table(request["TableName"])
        key = table.key_of(request["Key"])
        current = table.get(key)
        _check(request, current)
        table.write(key, None)
        return {"Attributes": current} if request.get("ReturnValues") == "ALL_OLD" and current else {}

    # Reads of many items
    def query(self, request: dict) -> dict:
        table = self.table(request["TableName"])
        env, condition = _env(request), parse_condition(request["KeyConditionExpression"])
        index = table.indexes.get(request["IndexName"]) if request.get("IndexName") else None
        if request.get("IndexName") and index is None:
            raise ValidationError(f"The table does not have the specified index: {request['IndexName']}")
        hash_name = index.hash if index else table.hash
        hash_value = _hash_equality(condition, env, hash_name)
        if index is None:
            partition = table.items.get(hash_value, {})
            ordered = [(_order(range_key), partition[range_key]) for range_key in sorted(partition, key=_order)]
        else:
            entries = index.entries.get(hash_value, {})
            ordered = [
                (_index_order(position), table.get(entries[position])) for position in sorted(entries, key=_index_order)
            ]
        candidates = [(position, item) for position, item in ordered if condition_holds(condition, item, env)]
        return self._page(table, index, request, candidates, env)

    def scan(self, request: dict) -> dict:
        table = self.table(request["TableName"])
        ordered = [
            ((_order(hash_key), _order(range_key)), partition[range_key])
            for hash_key in sorted(table.items, key=_order)
            for partition in (table.items[hash_key],)
            for range_key in sorted(partition, key=_order)
        ]
        return self._page(table, None, {**request, "ScanIndexForward": True}, ordered, _env(request), scan=True)

    def _page(self, table: Table, index: Any, request: dict, candidates: list, env: Env, scan: bool = False) -> dict:
        if not request.get("ScanIndexForward", True):
            candidates.reverse()
        start = request.get("ExclusiveStartKey")
        if start:
            # The page goes on from the key's position, as DynamoDB's does, whether or not its item still exists.
            after = _start_position(table, index, start, scan)
            forward = request.get("ScanIndexForward", True)
            # A table without a sort key holds one item per partition (after is None): the start's.
            candidates = [c for c in candidates if after is not None and (c[0] > after if forward else c[0] < after)]
        limit = request.get("Limit")
        page, more = (candidates[:limit], len(candidates) > limit) if limit else (candidates, False)
        items = [item for _position, item in page]
        if request.get("FilterExpression"):
            selected = parse_condition(request["FilterExpression"])
            items_out = [item for item in items if condition_holds(selected, item, env)]
        else:
            items_out = items
        response: dict[str, Any] = {"Count": len(items_out), "ScannedCount": len(items)}
        if request.get("Select") != "COUNT":
            if request.get("ProjectionExpression"):
                paths = parse_projection(request["ProjectionExpression"])
                items_out = [project(item, paths, env) for item in items_out]
            response["Items"] = [copy.deepcopy(item) for item in items_out]
        if more and items:
            last, names = items[-1], set(table.key_names()) | ({index.hash, index.range} - {None} if index else set())
            response["LastEvaluatedKey"] = {name: last[name] for name in names if name in last}
        return response

    def transact_write(self, request: dict) -> dict:
        """Check every condition first, then apply every write; any failed check cancels all of them."""
        entries, seen, reasons, writes = request["TransactItems"], set(), [], []
        for entry in entries:
            ((operation, body),) = entry.items()
            table = self.table(body["TableName"])
            item = body.get("Item", {})
            key_item = body.get("Key") or {name: item[name] for name in table.key_names() if name in item}
            key = table.key_of(key_item)
            if (table.name, key) in seen:
                raise ValidationError("Transaction request cannot include multiple operations on one item")
            seen.add((table.name, key))
            current = table.get(key)
            try:
                _check(body, current)
            except ConditionFailed:
                reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    reason["Item"] = current
                reasons.append(reason)
                continue
            reasons.append({"Code": "None"})
            if operation == "Put":
                writes.append((table, key, copy.deepcopy(item)))
            elif operation == "Delete":
                writes.append((table, key, None))
            elif operation == "Update":
                before = current if current is not None else copy.deepcopy(key_item)
                after, _touched = update_apply(
                    before, body["UpdateExpression"], _env(body), key_names=table.key_names()
                )
                writes.append((table, key, after))
        if any(reason["Code"] != "None" for reason in reasons):
            raise TransactionCanceled(reasons)
        for table, key, item in writes:
            table.write(key, item)
        return {}

    def transact_get(self, request: dict) -> dict:
        return {"Responses": [self.get(entry["Get"]) for entry in request["TransactItems"]]}

    def batch_write(self, request: dict) -> dict:
        for table_name, entries in request["RequestItems"].items():
            for entry in entries:
                if "PutRequest" in entry:
                    self.put({"TableName": table_name, "Item": entry["PutRequest"]["Item"]})
                else:
                    self.delete({"TableName": table_name, "Key": entry["DeleteRequest"]["Key"]})
        return {"UnprocessedItems": {}}

    def batch_get(self, request: dict) -> dict:
        responses: dict[str, list] = {}
        for table_name, wanted in request["RequestItems"].items():
            found = [self.get({"TableName": table_name, "Key": key, **_projection(wanted)}) for key in wanted["Keys"]]
            responses[table_name] = [response["Item"] for response in found if "Item" in response]
        return {"Responses": responses, "UnprocessedKeys": {}}


def _projection(wanted: dict) -> dict:
    return {k: wanted[k] for k in ("ProjectionExpression", "ExpressionAttributeNames") if k in wanted}


def _order(value: Any) -> Any:
    return value[1] if isinstance(value, tuple) else value


def _start_position(table: Table, index: Any, start: Item, scan: bool) -> Any:
    """Where ``ExclusiveStartKey`` sits in the order its query or scan reads the candidates in."""
    key = table.key_of({name: start[name] for name in table.key_names()})
    if scan:
        return _order(key[0]), _order(key[1])
    if index is None:
        return _order(key[1])
    position = index.position(start, key)
    if position is None:
        raise ValidationError("The provided starting key is invalid")
    return _index_order(position[1])


def _index_order(position: tuple) -> tuple:
    range_value, table_key = position
    return (_order(range_value) if range_value is not None else 0, tuple(_order(part) for part in table_key if part))


def _hash_equality(condition: tuple, env: Env, hash_name: str) -> Any:
    """The partition a key condition names: its ``hash = :value`` (alone or under the top-level AND)."""
    nodes = [condition]
    while nodes:
        node = nodes.pop()
        if node[0] == "and":
            nodes.extend((node[1], node[2]))
        elif (
            node[0] == "cmp"
            and node[1] == "="
            and node[2][0] == "path"
            and node[3][0] == "value"
            and env.steps(node[2]) == [("name", hash_name)]
        ):
            return scalar(env.value(node[3][1]))
    raise ValidationError("Query condition missed key schema element: " + hash_name)
