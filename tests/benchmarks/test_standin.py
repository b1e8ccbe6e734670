"""The benchmark's in-memory DynamoDB stand-in (benchmarks/standin*.py): DynamoDB's semantics for the operations
this project sends, checked on the store directly and through the real server with boto3.

The wider check is the suite itself: ``make test`` runs the DynamoDB-backed service, API and consumer tests a
second time with ``CHAT_TEST_DYNAMODB=standin`` (tests/conftest.py), so they hold on the stand-in as on moto.
"""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.standin_expressions import Env, ValidationError, condition_holds, parse_condition
from benchmarks.standin_tables import ConditionFailed, Store, TransactionCanceled
from tests.config.local_servers import StandinServer

TABLE = "standin-check"
KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]


def create_request() -> dict:
    return {
        "TableName": TABLE,
        "KeySchema": KEYS,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "owner", "at")],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_owner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


@pytest.fixture
def store() -> Store:
    store = Store()
    store.create(create_request())
    for sk, n, owner, at in (("a", "1", "u1", "2026-01-03"), ("b", "2", "u1", "2026-01-01"), ("c", "3", None, None)):
        item = {"pk": {"S": "p"}, "sk": {"S": sk}, "n": {"N": n}}
        if owner:
            item.update(owner={"S": owner}, at={"S": at})
        store.put({"TableName": TABLE, "Item": item})
    return store


def key(sk: str) -> dict:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def holds(expression: str, item: dict, names=None, values=None) -> bool:
    return condition_holds(parse_condition(expression), item, Env(names, values))


def test_conditions_compare_numbers_as_numbers_and_test_existence_size_and_membership():
    item = {"n": {"N": "10"}, "s": {"S": "hello"}, "tags": {"SS": ["x", "y"]}}
    values = {":nine": {"N": "9.0"}, ":ten": {"N": "1E+1"}, ":he": {"S": "he"}, ":x": {"S": "x"}, ":five": {"N": "5"}}
    assert holds("#n > :nine AND #n = :ten", item, {"#n": "n"}, values)
    assert holds("begins_with (s, :he) AND contains (tags, :x)", item, None, values)
    assert holds("(attribute_not_exists (#m) OR size (#s) <= :five)", item, {"#m": "m", "#s": "s"}, values)
    assert holds("#n IN (:nine, :ten)", item, {"#n": "n"}, values)
    assert holds("#n BETWEEN :nine AND :ten", item, {"#n": "n"}, values)
    assert not holds("NOT attribute_exists (s)", item)
    assert not holds("s < :ten", item, None, values)  # a string and a number do not compare


def test_a_bad_expression_or_a_missing_placeholder_is_a_validation_error():
    with pytest.raises(ValidationError):
        parse_condition("#a = = :b")
    with pytest.raises(ValidationError):
        holds("#a = :b", {}, {"#a": "a"}, {})


def test_updates_set_from_the_item_before_add_remove_and_delete_as_dynamodb(store):
    store.put({"TableName": TABLE, "Item": {**key("u"), "n": {"N": "1"}, "tags": {"SS": ["a", "b"]}, "x": {"S": "v"}}})
    response = store.update(
        {
            "TableName": TABLE,
            "Key": key("u"),
            "UpdateExpression": "SET #m = #n + :one, #c = if_not_exists (#c, :zero) ADD #n :one REMOVE #x DELETE #t :a",
            "ExpressionAttributeNames": {"#m": "m", "#n": "n", "#c": "c", "#x": "x", "#t": "tags"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}, ":a": {"SS": ["a"]}},
            "ReturnValues": "ALL_NEW",
        }
    )
    assert response["Attributes"] == {
        **key("u"),
        "n": {"N": "2"},
        "m": {"N": "2"},
        "c": {"N": "0"},
        "tags": {"SS": ["b"]},
    }


def test_a_failed_condition_changes_nothing(store):
    request = {
        "TableName": TABLE,
        "Key": key("a"),
        "UpdateExpression": "ADD #n :one",
        "ConditionExpression": "#n > :five",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":five": {"N": "5"}},
    }
    with pytest.raises(ConditionFailed):
        store.update(request)
    assert store.get({"TableName": TABLE, "Key": key("a")})["Item"]["n"] == {"N": "1"}


def test_a_transaction_with_one_failed_check_writes_nothing_and_names_the_failed_item(store):
    before = {sk: store.get({"TableName": TABLE, "Key": key(sk)}) for sk in "abc"}
    items = [
        {"Put": {"TableName": TABLE, "Item": {**key("new")}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": key("a"),
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": key("b")}},
        {"ConditionCheck": {"TableName": TABLE, "Key": key("c"), "ConditionExpression": "attribute_not_exists (n)"}},
    ]
    with pytest.raises(TransactionCanceled) as cancelled:
        store.transact_write({"TransactItems": items})
    assert [reason["Code"] for reason in cancelled.value.reasons] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert {sk: store.get({"TableName": TABLE, "Key": key(sk)}) for sk in "abc"} == before
    assert store.get({"TableName": TABLE, "Key": key("new")}) == {}
    items[3]["ConditionCheck"]["ConditionExpression"] = "attribute_exists (n)"
    store.transact_write({"TransactItems": items})
    assert store.get({"TableName": TABLE, "Key": key("a")})["Item"]["n"] == {"N": "2"}
    assert store.get({"TableName": TABLE, "Key": key("b")}) == {}


def test_query_orders_pages_filters_and_reads_a_sparse_index(store):
    base = {"TableName": TABLE, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}
    first = store.query({**base, "Limit": 2, "ScanIndexForward": False})
    assert [item["sk"]["S"] for item in first["Items"]] == ["c", "b"]
    rest = store.query({**base, "ExclusiveStartKey": first["LastEvaluatedKey"], "ScanIndexForward": False})
    assert [item["sk"]["S"] for item in rest["Items"]] == ["a"] and "LastEvaluatedKey" not in rest
    filtered = store.query(
        {
            **base,
            "Limit": 2,
            "FilterExpression": "n > :one",
            "ExpressionAttributeValues": {":p": {"S": "p"}, ":one": {"N": "1"}},
        }
    )
    assert (filtered["Count"], filtered["ScannedCount"]) == (1, 2)  # Limit counts items read, before the filter
    by_owner = store.query(
        {
            "TableName": TABLE,
            "IndexName": "by_owner",
            "KeyConditionExpression": "#o = :u",
            "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":u": {"S": "u1"}},
        }
    )
    assert [item["sk"]["S"] for item in by_owner["Items"]] == ["b", "a"]  # by the index's range key; "c" is not in it
    store.delete({"TableName": TABLE, "Key": key("b")})
    assert store.query({**base, "Select": "COUNT"})["Count"] == 2
    assert [
        i["sk"]["S"]
        for i in store.query(
            {
                "TableName": TABLE,
                "IndexName": "by_owner",
                "KeyConditionExpression": "owner = :u",
                "ExpressionAttributeValues": {":u": {"S": "u1"}},
            }
        )["Items"]
    ] == ["a"]


def test_a_page_goes_on_from_the_start_keys_position_even_once_its_item_is_deleted(store):
    base = {"TableName": TABLE, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p"}}}
    by_owner = {"TableName": TABLE, "IndexName": "by_owner", "KeyConditionExpression": "#o = :u"}
    by_owner.update(ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":u": {"S": "u1"}})
    first = store.query({**base, "Limit": 2})
    index_first = store.query({**by_owner, "Limit": 1})
    scan_first = store.scan({"TableName": TABLE, "Limit": 2})
    assert [item["sk"]["S"] for item in first["Items"]] == ["a", "b"]
    assert [item["sk"]["S"] for item in index_first["Items"]] == ["b"]
    store.delete({"TableName": TABLE, "Key": key("b")})  # every start key's item is gone before the next page

    rest = store.query({**base, "ExclusiveStartKey": first["LastEvaluatedKey"]})
    index_rest = store.query({**by_owner, "ExclusiveStartKey": index_first["LastEvaluatedKey"]})
    scan_rest = store.scan({"TableName": TABLE, "ExclusiveStartKey": scan_first["LastEvaluatedKey"]})

    assert [item["sk"]["S"] for item in rest["Items"]] == ["c"]  # not "a" again: the page does not start over
    assert [item["sk"]["S"] for item in index_rest["Items"]] == ["a"]
    assert [item["sk"]["S"] for item in scan_rest["Items"]] == ["c"]


@pytest.fixture(scope="module")
def client():
    server = StandinServer()
    yield boto3.client(
        "dynamodb",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="standin",
        aws_secret_access_key="standin",
        config=Config(retries={"max_attempts": 1}),
    )
    server.stop()


@pytest.mark.server
def test_through_the_server_botocore_reads_dynamodbs_errors_and_cancellation_reasons(client):
    client.create_table(**create_request())
    assert client.describe_table(TableName=TABLE)["Table"]["TableStatus"] == "ACTIVE"
    client.put_item(TableName=TABLE, Item={**key("a"), "n": {"N": "1"}})
    with pytest.raises(ClientError) as failed:
        client.put_item(TableName=TABLE, Item=key("a"), ConditionExpression="attribute_not_exists (pk)")
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": key("b")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("a"),
                        "ConditionExpression": "n > :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert "Item" not in client.get_item(TableName=TABLE, Key=key("b"))
    with pytest.raises(ClientError) as missing:
        client.get_item(TableName="no-such-table", Key=key("a"))
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
