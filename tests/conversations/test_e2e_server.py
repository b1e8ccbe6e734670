"""End to end: the real server (daphne) on a moto server, a real WebSocket client (the websockets library)."""

import asyncio
import json

import pytest
import websockets

from tests.conversations.live_stack import live_stack

pytestmark = pytest.mark.server


async def _frames_until(connection, *types: str) -> list[dict]:
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(connection.recv(), timeout=15))
        frames.append(frame)
        if frame["type"] in types:
            return frames


async def _chat(stack) -> None:
    cookie = {"Cookie": f"sessionid={stack.session_key}"}
    async with websockets.connect(stack.ws_url, additional_headers=cookie) as connection:
        await connection.send(
            json.dumps(
                {
                    "action": "sendMessage",
                    "message": "보도자료를 써 주세요",
                    "engineType": "11",
                    "conversationId": "11_1732600000000",
                    "idempotencyKey": "e2e-1",
                    "conversationHistory": [],
                }
            )
        )
        frames = await _frames_until(connection, "title", "error")
        types = [f["type"] for f in frames]
        assert types[0] == "ai_start" and types[-2:] == ["chat_end", "title"], types
        chunks = [f for f in frames if f["type"] == "ai_chunk"]
        assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
        end = frames[-2]
        assert end["response_length"] == len("".join(c["chunk"] for c in chunks)) > 0
        assert "보도자료를 써 주세요" in "".join(c["chunk"] for c in chunks)  # the fake model quotes the question
        assert end["usage"]["outputTokens"] == len(chunks)

        # A bad frame gets an error and the same connection keeps working (second turn sees the first as history).
        await connection.send("not json")
        assert json.loads(await connection.recv())["code"] == "invalid_json"
        await connection.send(
            json.dumps(
                {
                    "action": "sendMessage",
                    "message": "Second question",
                    "engineType": "11",
                    "conversationId": "11_1732600000000",
                    "idempotencyKey": "e2e-2",
                }
            )
        )
        second = await _frames_until(connection, "chat_end", "error")
        assert second[-1]["type"] == "chat_end"
        assert "2 earlier messages" in "".join(f["chunk"] for f in second if f["type"] == "ai_chunk")

    # Without credentials the server accepts, reports and closes with 4401.
    async with websockets.connect(stack.ws_url) as anonymous:
        assert json.loads(await anonymous.recv())["code"] == "not_authenticated"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await anonymous.recv()
        assert closed.value.rcvd.code == 4401


def test_chat_over_a_real_server(tmp_path):
    with live_stack(tmp_path, server="daphne") as stack:
        asyncio.run(_chat(stack))
