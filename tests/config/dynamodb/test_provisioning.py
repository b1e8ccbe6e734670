from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from config.dynamodb.tables import all_models, connection
from conversations.models import Conversation, Feedback, IdempotencyRecord, Message
from prompts.models import EngineType


def run(*args):
    out = StringIO()
    call_command("create_tables", *args, stdout=out)
    return out.getvalue()


def run_failing(*args):
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("create_tables", *args, stdout=out)
    return out.getvalue(), failure.value


@pytest.fixture
def client():
    return connection().client


def test_create_tables_is_idempotent_and_check_passes_on_matching_tables():
    first = run()
    second = run()
    for output in (first, second):
        assert "created" not in output  # the autouse fixture already made every table
        assert output.count(": ok") == len(all_models())
    assert "All tables match the models." in run("--check")


def test_create_tables_creates_a_missing_table_with_indexes_ttl_and_on_demand_billing(client):
    Conversation.delete_table()
    IdempotencyRecord.delete_table()

    output = run()

    assert f"{Conversation.Meta.table_name}: created" in output
    assert f"{IdempotencyRecord.Meta.table_name}: created" in output
    table = client.describe_table(TableName=Conversation.Meta.table_name)["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_user_updated", "by_user_engine_updated"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=IdempotencyRecord.Meta.table_name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert "All tables match the models." in run("--check")


def test_check_reports_a_missing_table_and_changes_nothing(client):
    Conversation.delete_table()

    output, error = run_failing("--check")

    assert f"{Conversation.Meta.table_name}: DRIFT" in output
    assert "table is missing" in output
    assert error.returncode == 1
    assert Conversation.Meta.table_name in str(error)
    assert not Conversation.exists()


def test_check_reports_a_dropped_index_and_create_tables_recreates_it(client):
    client.update_table(
        TableName=Conversation.Meta.table_name,
        GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_user_engine_updated"}}],
    )

    output, error = run_failing("--check")
    assert "index by_user_engine_updated is missing" in output
    assert error.returncode == 1

    repaired = run()
    assert f"{Conversation.Meta.table_name}: updated" in repaired
    assert "created index by_user_engine_updated" in repaired
    table = client.describe_table(TableName=Conversation.Meta.table_name)["Table"]
    assert "by_user_engine_updated" in {i["IndexName"] for i in table["GlobalSecondaryIndexes"]}
    assert "All tables match the models." in run("--check")


def test_a_table_with_the_wrong_key_schema_is_drift_that_create_tables_does_not_touch(client):
    EngineType.delete_table()
    client.create_table(
        TableName=EngineType.Meta.table_name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    output, error = run_failing("--check")
    assert "key schema is id (HASH); the model expects engine_type (HASH)" in output
    assert "index all_engines is missing" in output
    assert error.returncode == 1

    output, error = run_failing()  # nothing is "fixed" on a table keyed differently
    assert "need an operator" in str(error)
    table = client.describe_table(TableName=EngineType.Meta.table_name)["Table"]
    assert not table.get("GlobalSecondaryIndexes")


def test_a_key_attribute_of_the_wrong_type_is_drift(client):
    EngineType.delete_table()
    client.create_table(
        TableName=EngineType.Meta.table_name,
        KeySchema=[{"AttributeName": "engine_type", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "engine_type", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )

    output, _ = run_failing("--check")

    assert "attribute engine_type is of type N; the model expects S" in output


def test_ttl_switched_off_is_drift_and_is_switched_back_on(client):
    client.update_time_to_live(
        TableName=IdempotencyRecord.Meta.table_name,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
    )

    output, _ = run_failing("--check")
    assert "TTL is disabled" in output

    assert "enabled TTL on expires_at" in run()
    assert "All tables match the models." in run("--check")


@pytest.mark.parametrize("model", [Conversation, Message, Feedback], ids=lambda m: m.__name__)
def test_retention_ttl_is_enabled_on_conversations_messages_and_feedback_and_drift_is_reported(client, model):
    name = model.Meta.table_name
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")

    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    output, _ = run_failing("--check")
    assert (
        f"{name}: DRIFT" in output
        and "TTL is disabled on expires_at; the model expects it enabled on expires_at" in output
    )

    assert "enabled TTL on expires_at" in run()
    assert "All tables match the models." in run("--check")
