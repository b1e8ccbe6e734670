"""Through the real production entrypoint (``manage.py serve``: daphne) on the local DynamoDB (``dynamodb_local``):
frame limits at the transport, and concurrent sends on one conversation leaving consistent data."""

import asyncio
import json
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
import websockets

from tests.conversations.live_stack import live_stack

pytestmark = pytest.mark.server

PREFIX = "e2e-"  # live_stack's table prefix
FRAME_LIMIT = 4 * 1024 * 1024  # CHAT_MAX_FRAME_BYTES's default; the transport takes twice as much
CONVERSATION = "11_1732600000001"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("live")
    # premium: ten concurrent reservations must not run into the free plan's allowance (not what is tested here).
    with live_stack(tmp_path, USAGE_DEFAULT_PLAN="premium", FAKE_MODEL_DELAY_SECONDS="0.01") as running:
        yield running


def connect(stack):
    return websockets.connect(
        stack.ws_url, additional_headers={"Cookie": f"sessionid={stack.session_key}"}, max_size=None
    )


async def frames_until(connection, *types):
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(connection.recv(), timeout=30))
        frames.append(frame)
        if frame["type"] in types:
            return frames


def send_frame(message, key=None, conversation=CONVERSATION):
    return json.dumps(
        {
            "action": "sendMessage",
            "message": message,
            "engineType": "11",
            "conversationId": conversation,
            "idempotencyKey": key or uuid.uuid4().hex,
        }
    )


def padded(size):
    """A sendMessage frame of exactly ``size`` UTF-8 bytes whose message is far over CHAT_MAX_MESSAGE_CHARS."""
    frame = send_frame("", key="size-probe")
    return frame.replace('"message": ""', '"message": "' + "x" * (size - len(frame.encode())) + '"')


async def still_usable(connection):
    await connection.send(json.dumps({"action": "stopGeneration", "conversationId": "11_nothing_running"}))
    assert (await frames_until(connection, "error"))[-1]["code"] == "no_active_generation"


def test_frames_at_the_limit_get_coded_errors_and_only_the_transport_limit_closes_with_1009(stack):
    async def scenario():
        async with connect(stack) as connection:
            await connection.send(padded(FRAME_LIMIT))  # just under: parsed, then refused for its message
            assert (await frames_until(connection, "error"))[-1]["code"] == "message_too_long"
            await connection.send(padded(FRAME_LIMIT + 1))  # just over: refused before parsing, socket open
            error = (await frames_until(connection, "error"))[-1]
            assert (error["code"], error["maxBytes"]) == ("frame_too_large", FRAME_LIMIT)
            await still_usable(connection)
            await connection.send(padded(2 * FRAME_LIMIT))  # the transport's own limit: exactly at it is fine
            assert (await frames_until(connection, "error"))[-1]["code"] == "frame_too_large"

            await connection.send(padded(2 * FRAME_LIMIT + 1))  # over the transport's limit: a real close frame
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(connection.recv(), timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    asyncio.run(scenario())


def dynamodb(stack):
    return boto3.client(
        "dynamodb",
        endpoint_url=stack.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def scan(client, table):
    items, body = [], {"TableName": PREFIX + table, "ConsistentRead": True}
    while True:
        page = client.scan(**body)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        body["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_ten_concurrent_sends_on_one_conversation_leave_no_orphan_no_drift_and_no_leftover_claim(stack):
    async def one_send(key):
        async with connect(stack) as connection:
            await connection.send(send_frame(f"concurrent {key}", key=key))
            return await frames_until(connection, "chat_end", "error")

    async def scenario():
        async with connect(stack) as connection:  # the conversation and its title exist before the race
            await connection.send(send_frame("first", key="first"))
            first = await frames_until(connection, "title", "error")
            assert first[-1]["type"] == "title", first
        return await asyncio.gather(*(one_send(f"race-{n}") for n in range(10)))

    results = asyncio.run(scenario())
    answered = {f"race-{n}" for n, frames in enumerate(results) if frames[-1]["type"] == "chat_end"}
    refused = [frames[-1]["code"] for frames in results if frames[-1]["type"] == "error"]
    assert answered, results
    assert set(refused) <= {"generation_in_progress", "too_many_generations"}, refused

    client = dynamodb(stack)
    messages = [m for m in scan(client, "messages") if m["conversation_key"]["S"].endswith("#" + CONVERSATION)]
    keys = [m["idempotency_key"]["S"] for m in messages if m["role"]["S"] == "user"]
    assert sorted(keys) == sorted({"first", *answered})  # each answered send once; no refused send left a message
    by_turn = {}
    for message in messages:
        by_turn.setdefault(message["turn_id"]["S"], []).append(message["role"]["S"])
    assert all(sorted(roles) == ["assistant", "user"] for roles in by_turn.values()), by_turn  # no orphan

    (conversation,) = [c for c in scan(client, "conversations") if c["conversation_id"]["S"] == CONVERSATION]
    assert int(conversation["message_count"]["N"]) == len(messages)
    assert "active_turn_id" not in conversation or conversation["active_turn_id"].get("NULL")
    assert all(not item.get("turns", {}).get("SS") for item in scan(client, "active_generations"))
    idempotency = {item["key"]["S"].split("#", 1)[1]: item["status"]["S"] for item in scan(client, "idempotency")}
    assert {key: status for key, status in idempotency.items() if key.startswith("race-")} == dict.fromkeys(
        answered, "complete"
    )
    assert {item["status"]["S"] for item in scan(client, "usage_reservations")} <= {"settled", "released"}


def test_an_oversized_body_through_the_real_server_is_a_json_413(stack):
    csrf = "c" * 32  # the double-submit pair DRF's session authentication checks
    request = urllib.request.Request(  # noqa: S310 (a loopback URL built here)
        f"{stack.base_url}/api/conversations",
        data=b'{"title": "' + b"x" * (3 * 1024 * 1024) + b'"}',
        headers={
            "Content-Type": "application/json",
            "Cookie": f"sessionid={stack.session_key}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
        },
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["code"] == "request_too_large"
