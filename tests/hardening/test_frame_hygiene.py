"""The consumer's edge (conversations/consumers.py receive, frames.py fragments): emoji across fragments, lone
surrogates, deep nesting, and an unexpected exception, each answered on a socket that stays open."""

import json
import logging

import pytest

from conversations import consumers
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

EMOJI = "\U0001f600"


def fragment(part: str, current: int, total: int) -> str:
    frame = send_frame(message=part, idempotencyKey="frag-1", chunkInfo={"total": total, "current": current})
    return json.dumps(frame)  # ASCII: a lone half travels as its \\u escape, as the SPA's JSON.stringify sends it


async def test_an_emoji_split_between_two_fragments_arrives_whole(user, engine, fake_bedrock):
    fake_bedrock.converse("Emoji")
    ws = await ws_connect(user)
    await ws.send_to(text_data=fragment("smile \ud83d", 1, 2))
    await ws.send_to(text_data=fragment("\ude00 please", 2, 2))
    frames = await frames_until(ws, "chat_end", "error")
    assert frames[-1]["type"] == "chat_end", frames
    body = fake_bedrock.requests("ConverseStream")[0]
    assert body["messages"][-1]["content"][0]["text"].endswith(f"smile {EMOJI} please")
    await ws.disconnect()


async def test_a_half_pair_left_alone_after_joining_is_refused_with_the_field_named(user, engine):
    ws = await ws_connect(user)
    await ws.send_to(text_data=fragment("a \ud83d", 1, 2))
    await ws.send_to(text_data=fragment(" no low half", 2, 2))
    error = await ws.receive_json_from(timeout=10)
    assert (error["type"], error["code"], list(error["fields"])) == ("error", "invalid", ["message"])
    await ws.disconnect()


async def test_a_lone_surrogate_in_the_idempotency_key_is_invalid_and_not_retryable(user, engine):
    ws = await ws_connect(user)
    await ws.send_to(text_data=json.dumps(send_frame(idempotencyKey="k\ud800")))
    error = await ws.receive_json_from(timeout=10)
    assert (error["code"], error["retryable"], list(error["fields"])) == ("invalid", False, ["idempotencyKey"])
    await ws.disconnect()


async def test_deep_nesting_is_invalid_json_and_the_socket_stays_open(user, engine):
    ws = await ws_connect(user)
    await ws.send_to(text_data='{"action": "sendMessage", "message": ' + "[" * 10_000 + "]" * 10_000 + "}")
    assert (await ws.receive_json_from(timeout=10))["code"] == "invalid_json"
    await ws.send_json_to({"action": "stopGeneration", "conversationId": "11_1"})
    assert (await ws.receive_json_from(timeout=10))["code"] == "no_active_generation"
    await ws.disconnect()


async def test_an_unexpected_exception_is_logged_with_a_request_id_and_answered_internal_error(
    user, engine, monkeypatch, caplog
):
    async def broken(self, frame):
        raise KeyError("a bug")

    monkeypatch.setattr(consumers.ChatConsumer, "_clear_history", broken)
    ws = await ws_connect(user)
    with caplog.at_level(logging.ERROR, logger="config.outages"):
        await ws.send_json_to({"action": "clearHistory", "conversationId": "11_1"})
        error = await ws.receive_json_from(timeout=10)
    assert (error["type"], error["code"], error["retryable"]) == ("error", "internal_error", True)
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.request_id == error["requestId"] and isinstance(record.exc_info[1], KeyError)
    await ws.send_json_to({"action": "stopGeneration", "conversationId": "11_1"})  # still open
    assert (await ws.receive_json_from(timeout=10))["code"] == "no_active_generation"
    await ws.disconnect()
