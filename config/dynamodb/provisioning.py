"""Compare the live DynamoDB tables with the PynamoDB models, and create what is missing.

Used by ``manage.py create_tables``. Only additive changes are made automatically (a missing table, a missing
global secondary index, TTL not enabled); a wrong key schema or attribute type would need data to be copied, so it
is reported as drift for an operator to resolve, never "fixed" by deleting anything.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE

INDEX_WAIT_SECONDS = 30 * 60  # a real GSI backfill can take long on a big table
POLL_SECONDS = 2.0


@dataclass
class IndexSpec:
    key_schema: dict[str, str]  # attribute name -> HASH | RANGE
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()  # of an INCLUDE projection

    @classmethod
    def from_description(cls, key_schema: list[dict[str, str]], projection: dict[str, Any]) -> "IndexSpec":
        return cls(
            _key_schema(key_schema), projection["ProjectionType"], tuple(sorted(projection.get("NonKeyAttributes", [])))
        )

    def projection_request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key_attributes:
            request["NonKeyAttributes"] = list(self.non_key_attributes)
        return request


@dataclass
class TableSpec:
    """What a model needs from its table, in the shape DescribeTable reports it."""

    table_name: str
    key_schema: dict[str, str]
    attribute_types: dict[str, str]  # key attributes of the table and its indexes -> S | N | B
    global_indexes: dict[str, IndexSpec]
    local_indexes: dict[str, IndexSpec]
    ttl_attribute: str | None


@dataclass
class TableReport:
    table_name: str
    created: bool = False
    actions: list[str] = field(default_factory=list)  # what was changed
    problems: list[str] = field(default_factory=list)  # drift: differences from the model
    notes: list[str] = field(default_factory=list)  # differences that do not matter to the application
    keys_wrong: bool = False  # the table itself is keyed differently: nothing is changed on it
    # Drift that can be fixed without touching data:
    missing_indexes: list[str] = field(default_factory=list)
    ttl_to_enable: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _key_schema(elements: list[dict[str, str]]) -> dict[str, str]:
    return {element["AttributeName"]: element["KeyType"] for element in elements}


def _describe_keys(key_schema: dict[str, str]) -> str:
    order = sorted(key_schema.items(), key=lambda item: item[1] != "HASH")
    return ", ".join(f"{name} ({kind})" for name, kind in order)


def table_spec(model: type) -> TableSpec:
    schema = model._get_schema()
    attribute_types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}

    def indexes(kind: str) -> dict[str, IndexSpec]:
        specs = {}
        for index in schema[kind]:
            attribute_types.update({d["AttributeName"]: d["AttributeType"] for d in index["attribute_definitions"]})
            specs[index["index_name"]] = IndexSpec.from_description(index["key_schema"], index["projection"])
        return specs

    ttl = model._ttl_attribute()
    return TableSpec(
        table_name=model.Meta.table_name,
        key_schema=_key_schema(schema["key_schema"]),
        attribute_types=attribute_types,
        global_indexes=indexes("global_secondary_indexes"),
        local_indexes=indexes("local_secondary_indexes"),
        ttl_attribute=ttl.attr_name if ttl is not None else None,
    )


def _describe(client: Any, table_name: str) -> dict[str, Any] | None:
    try:
        return client.describe_table(TableName=table_name)["Table"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise


def _ttl_status(client: Any, table_name: str) -> tuple[str, str | None]:
    description = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    return description.get("TimeToLiveStatus", "DISABLED"), description.get("AttributeName")


def _compare_indexes(
    kind: str, wanted: dict[str, IndexSpec], live: list[dict[str, Any]], report: TableReport
) -> list[str]:
    """Report differing indexes; return the names of missing ones."""
    live_by_name = {
        index["IndexName"]: IndexSpec.from_description(index["KeySchema"], index["Projection"]) for index in live
    }
    missing = []
    for name, spec in wanted.items():
        found = live_by_name.get(name)
        if found is None:
            missing.append(name)
        elif found.key_schema != spec.key_schema:
            report.problems.append(
                f"{kind} {name} has keys {_describe_keys(found.key_schema)}; "
                f"the model expects {_describe_keys(spec.key_schema)}"
            )
        elif (found.projection, found.non_key_attributes) != (spec.projection, spec.non_key_attributes):
            report.problems.append(
                f"{kind} {name} projects {found.projection} {list(found.non_key_attributes)}; "
                f"the model expects {spec.projection} {list(spec.non_key_attributes)}"
            )
    for name in sorted(set(live_by_name) - set(wanted)):
        report.notes.append(f"{kind} {name} exists but no model uses it")
    return missing


def table_inspect(model: type, client: Any) -> TableReport:
    """Differences between the live table and the model; changes nothing."""
    spec = table_spec(model)
    report = TableReport(spec.table_name)
    table = _describe(client, spec.table_name)
    if table is None:
        report.problems.append("table is missing")
        return report

    live_keys = _key_schema(table["KeySchema"])
    if live_keys != spec.key_schema:
        report.keys_wrong = True
        report.problems.append(
            f"key schema is {_describe_keys(live_keys)}; the model expects {_describe_keys(spec.key_schema)}"
        )
    live_types = {d["AttributeName"]: d["AttributeType"] for d in table.get("AttributeDefinitions", [])}
    for name, wanted_type in sorted(spec.attribute_types.items()):
        if name in live_types and live_types[name] != wanted_type:
            report.keys_wrong = True
            report.problems.append(f"attribute {name} is of type {live_types[name]}; the model expects {wanted_type}")

    for name in _compare_indexes("index", spec.global_indexes, table.get("GlobalSecondaryIndexes", []), report):
        report.problems.append(f"index {name} is missing")
        report.missing_indexes.append(name)
    for name in _compare_indexes("local index", spec.local_indexes, table.get("LocalSecondaryIndexes", []), report):
        report.problems.append(f"local index {name} is missing (it can only be added by recreating the table)")

    status, attribute = _ttl_status(client, spec.table_name)
    if spec.ttl_attribute and (status not in ("ENABLED", "ENABLING") or attribute != spec.ttl_attribute):
        shown = f"{status.lower()} on {attribute}" if attribute else status.lower()
        report.problems.append(f"TTL is {shown}; the model expects it enabled on {spec.ttl_attribute}")
        if status == "DISABLED":
            report.ttl_to_enable = spec.ttl_attribute
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if billing != PAY_PER_REQUEST_BILLING_MODE:
        report.notes.append(f"billing mode is {billing}, not on-demand")
    return report


def _wait_until_active(client: Any, table_name: str, index_name: str | None = None) -> None:
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    while True:
        table = client.describe_table(TableName=table_name)["Table"]
        statuses = [table["TableStatus"]]
        if index_name:
            statuses += [
                i["IndexStatus"] for i in table.get("GlobalSecondaryIndexes", []) if i["IndexName"] == index_name
            ]
        if all(status == "ACTIVE" for status in statuses):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table_name} {index_name or ''} is still {statuses} after {INDEX_WAIT_SECONDS} s")
        time.sleep(POLL_SECONDS)


def _key_elements(key_schema: dict[str, str]) -> list[dict[str, str]]:
    return sorted(({"AttributeName": a, "KeyType": k} for a, k in key_schema.items()), key=lambda e: e["KeyType"])


def _create_table(client: Any, spec: TableSpec) -> None:
    """CreateTable through the shared client (PynamoDB's ``create_table`` builds a client per model)."""
    request: dict[str, Any] = {
        "TableName": spec.table_name,
        "KeySchema": _key_elements(spec.key_schema),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in spec.attribute_types.items()],
        "BillingMode": PAY_PER_REQUEST_BILLING_MODE,
    }
    for kind, indexes in (
        ("GlobalSecondaryIndexes", spec.global_indexes),
        ("LocalSecondaryIndexes", spec.local_indexes),
    ):
        if indexes:
            request[kind] = [
                {
                    "IndexName": name,
                    "KeySchema": _key_elements(i.key_schema),
                    "Projection": i.projection_request(),
                }
                for name, i in indexes.items()
            ]
    client.create_table(**request)
    _wait_until_active(client, spec.table_name)
    if spec.ttl_attribute:
        client.update_time_to_live(
            TableName=spec.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )


def _create_index(client: Any, spec: TableSpec, table: dict[str, Any], name: str) -> None:
    index = spec.global_indexes[name]
    create: dict[str, Any] = {
        "IndexName": name,
        "KeySchema": _key_elements(index.key_schema),
        "Projection": index.projection_request(),
    }
    if table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") != PAY_PER_REQUEST_BILLING_MODE:
        throughput = table["ProvisionedThroughput"]
        create["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput["ReadCapacityUnits"],
            "WriteCapacityUnits": throughput["WriteCapacityUnits"],
        }
    # DynamoDB accepts one index creation per UpdateTable call.
    client.update_table(
        TableName=spec.table_name,
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": spec.attribute_types[a]} for a in index.key_schema],
        GlobalSecondaryIndexUpdates=[{"Create": create}],
    )
    _wait_until_active(client, spec.table_name, name)


def table_ensure(model: type, client: Any) -> TableReport:
    """Create the table, its missing indexes and its TTL; report whatever cannot be fixed additively."""
    spec = table_spec(model)
    table = _describe(client, spec.table_name)
    if table is None:
        _create_table(client, spec)
        report = table_inspect(model, client)
        report.created = True
        return report

    before = table_inspect(model, client)
    if before.keys_wrong:
        return before
    actions = []
    for name in before.missing_indexes:
        _create_index(client, spec, table, name)
        actions.append(f"created index {name}")
    if before.ttl_to_enable:
        client.update_time_to_live(
            TableName=spec.table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": before.ttl_to_enable},
        )
        actions.append(f"enabled TTL on {before.ttl_to_enable}")
    after = table_inspect(model, client) if actions else before
    after.actions = actions
    return after
