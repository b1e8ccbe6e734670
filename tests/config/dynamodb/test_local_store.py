"""Local DynamoDB data survives restarts of ``manage.py dynamodb_local --data`` (snapshot + moto's request journal,
config/dynamodb/local_store.py)."""

import base64
import json

import boto3
import pytest
from django.core.management import CommandError, call_command

from config.dynamodb.local_store import journal_requests
from tests.config.local_servers import LocalDynamoDBServer, manage

PREFIX = "chat-"  # the local settings' table prefix (the subprocesses run with them)


def journal_line(operation, body):
    return json.dumps(
        {
            "headers": {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Authorization": "AWS4 ..."},
            "method": "POST",
            "url": "http://127.0.0.1:5005/",
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "body_encoded": True,
        }
    )


def test_journal_keeps_writes_skips_reads_and_survives_interleaved_and_cut_off_entries():
    put = journal_line("PutItem", {"TableName": "t", "Item": {"k": {"S": "a"}}})
    get = journal_line("GetItem", {"TableName": "t", "Key": {"k": {"S": "a"}}})
    update = journal_line("UpdateItem", {"TableName": "t", "Key": {"k": {"S": "a"}}})
    # moto writes a long request and its newline separately: two requests can share a line.
    delete = journal_line("DeleteItem", {"TableName": "t", "Key": {"k": {"S": "a"}}})
    data = (put + "\n" + get + update + "\n\n" + put[:60] + "\n" + delete + "\n" + put[:40]).encode()

    requests, damaged = journal_requests(data)

    assert [operation for operation, _, _ in requests] == ["PutItem", "UpdateItem", "DeleteItem"]
    assert json.loads(requests[0][2])["Item"] == {"k": {"S": "a"}}
    assert requests[0][1] == {"Authorization": "AWS4 ..."}
    assert damaged


def test_restore_refuses_an_endpoint_that_is_not_local(tmp_path):
    with pytest.raises(CommandError, match="not a local moto server"):
        call_command("dynamodb_local_restore", endpoint="https://dynamodb.us-east-1.amazonaws.com", var_dir=tmp_path)


def restore(server, var_dir):
    call_command("dynamodb_local_restore", endpoint=server.endpoint, var_dir=str(var_dir))


def dynamodb(server):
    return boto3.client(
        "dynamodb",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def add_tokens(server, tokens):
    dynamodb(server).update_item(
        TableName=f"{PREFIX}usage_monthly",
        Key={"user_id": {"S": "alice"}, "month": {"S": "2026-03"}},
        UpdateExpression="ADD total_tokens :n",
        ExpressionAttributeValues={":n": {"N": str(tokens)}},
    )


def total_tokens(server):
    item = dynamodb(server).get_item(
        TableName=f"{PREFIX}usage_monthly", Key={"user_id": {"S": "alice"}, "month": {"S": "2026-03"}}
    )["Item"]
    return int(item["total_tokens"]["N"])


def engine_types(server):
    items = dynamodb(server).query(
        TableName=f"{PREFIX}prompts",
        IndexName="all_engines",
        KeyConditionExpression="listing = :l",
        ExpressionAttributeValues={":l": {"S": "engine"}},
    )["Items"]
    return {item["engine_type"]["S"]: item["name"]["S"] for item in items}


@pytest.mark.server
def test_local_data_survives_hard_kills_and_restarts_without_applying_anything_twice(tmp_path):
    journal = tmp_path / "dynamodb-journal.jsonl"

    first = LocalDynamoDBServer(tmp_path)  # nothing saved yet: starts journaling
    try:
        manage(first.endpoint, "create_tables", "seed")
        add_tokens(first, 5)
    finally:
        first.kill()  # not even a clean shutdown

    second = LocalDynamoDBServer(tmp_path)  # restores before its port opens
    try:
        assert engine_types(second) == {"11": "금융 보도자료", "22": "기업 보도자료"}
        assert total_tokens(second) == 5
        add_tokens(second, 2)
    finally:
        second.stop()

    third = LocalDynamoDBServer(tmp_path)  # restores before its port opens
    try:
        assert total_tokens(third) == 7  # each ADD applied once: the snapshot plus the last session's journal
        assert "All tables match the models." in manage(third.endpoint, "create_tables --check")
        with pytest.raises(CommandError, match="already holds tables"):
            restore(third, tmp_path)  # replaying onto live data would apply writes twice
        add_tokens(third, 1)  # still journaled after the refused restore
    finally:
        third.kill()
    third_session = journal.read_bytes()

    fourth = LocalDynamoDBServer(tmp_path)  # restores before its port opens
    try:
        assert total_tokens(fourth) == 8
    finally:
        fourth.kill()

    # As if the last start had crashed after writing its snapshot but before emptying the journal: the journal
    # is already part of the snapshot, and the next start must not replay it.
    journal.write_bytes(third_session)
    fifth = LocalDynamoDBServer(tmp_path)  # restores before its port opens
    try:
        assert total_tokens(fifth) == 8
        assert engine_types(fifth) == {"11": "금융 보도자료", "22": "기업 보도자료"}
    finally:
        fifth.stop()
