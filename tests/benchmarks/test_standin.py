"""The benchmark's DynamoDB stand-in keeps moto's transaction semantics while backing up only the touched items."""

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend

from benchmarks import standin

TABLE = "standin-check"


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", standin.transact_write_items_item_backup)
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item={"pk": {"S": "u"}, "sk": {"S": "counter"}, "n": {"N": "1"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "u"}, "sk": {"S": "other"}, "v": {"S": "kept"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "u"}, "sk": {"S": "flag"}, "on": {"BOOL": True}})
    return client


def items(client) -> dict[str, dict]:
    found = client.query(
        TableName=TABLE, KeyConditionExpression="pk = :u", ExpressionAttributeValues={":u": {"S": "u"}}
    )
    return {item["sk"]["S"]: item for item in found["Items"]}


def writes(condition_holds: bool) -> list[dict]:
    return [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "u"}, "sk": {"S": "new"}}}},
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "u"}, "sk": {"S": "counter"}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        },
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "u"}, "sk": {"S": "other"}}}},
        {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"pk": {"S": "u"}, "sk": {"S": "flag"}},
                "ConditionExpression": "attribute_exists(#on)" if condition_holds else "attribute_not_exists(#on)",
                "ExpressionAttributeNames": {"#on": "on"},
            }
        },
    ]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(table):
    before = items(table)

    with pytest.raises(ClientError) as caught:
        table.transact_write_items(TransactItems=writes(condition_holds=False))

    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert items(table) == before  # the put undone, the update undone, the delete undone


def test_a_transaction_that_holds_applies_every_write(table):
    table.transact_write_items(TransactItems=writes(condition_holds=True))

    after = items(table)
    assert set(after) == {"counter", "flag", "new"}
    assert after["counter"]["n"] == {"N": "2"}
