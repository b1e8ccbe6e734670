"""Answers that outlive their worker, on real servers: ``manage.py serve`` processes on one moto_server (behind a
proxy the test cuts), each killed, drained or cut off mid-answer. Short leases keep these tests quick."""

import asyncio
import json
import signal
import time

import pytest
import websockets

from tests.conversations.live_stack import LiveCluster

pytestmark = pytest.mark.server

LEASE = 2
FRAME_WAIT_SECONDS = 30
QUICK = {
    "CHAT_TURN_LEASE_SECONDS": str(LEASE),
    "CHAT_CHECKPOINT_SECONDS": "0.3",
    "FAKE_MODEL_DELAY_SECONDS": "0.05",
    "CHAT_COALESCE_MAX_DELAY_MS": "0",
}
STORED = """
import json
from conversations.models import ActiveGenerations, Conversation, Message
from usage.models import UsageReservation
heads = list(Conversation.scan())
out = {"conversations": {}, "slots": [], "open_reservations": 0}
for head in heads:
    messages = list(Message.query(f"{head.user_id}#{head.conversation_id}"))
    out["conversations"][head.conversation_id] = {
        "active": head.active_turn_id,
        "messages": [[m.role, m.status, m.content] for m in messages],
    }
out["slots"] = sorted(t for s in ActiveGenerations.scan() for t in (s.turns or []))
out["open_reservations"] = sum(1 for r in UsageReservation.scan() if r.status == "reserved")
print(json.dumps(out))
"""


def send(conversation_id: str, key: str, message: str = "Tell me about bonds") -> str:
    frame = {"action": "sendMessage", "message": message, "engineType": "11"}
    return json.dumps(frame | {"conversationId": conversation_id, "idempotencyKey": key})


async def frames_until(ws, *types: str) -> list[dict]:
    frames = []
    async with asyncio.timeout(FRAME_WAIT_SECONDS):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame["type"] in types:
                return frames


def chunk_text(frames: list[dict]) -> str:
    return "".join(f["chunk"] for f in frames if f["type"] == "ai_chunk")


def stored(cluster: LiveCluster) -> dict:
    return json.loads(cluster.manage(STORED).strip().splitlines()[-1])


@pytest.fixture
def cluster(tmp_path):
    cluster = LiveCluster(tmp_path, **QUICK, FAKE_MODEL_ANSWER_TOKENS="200")
    yield cluster
    cluster.close()


def test_a_worker_killed_mid_answer_is_recovered_on_the_next_send(cluster):
    first = cluster.web()

    async def scenario():
        async with websockets.connect(first.ws_url, additional_headers=cluster.headers) as ws:
            await ws.send(send("11_1", "dies"))
            frames = await frames_until(ws, "ai_start")
            while len([f for f in frames if f["type"] == "ai_chunk"]) < 15:  # past a few checkpoints
                frames += await frames_until(ws, "ai_chunk")
            first.kill()
        second = cluster.web()
        deadline = time.monotonic() + LEASE + 10
        async with websockets.connect(second.ws_url, additional_headers=cluster.headers) as ws:
            attempt = 0
            while True:
                attempt += 1
                await ws.send(send("11_1", f"after-{attempt}", "Still there?"))
                reply = await frames_until(ws, "chat_end", "error")
                if reply[-1]["type"] == "chat_end" or time.monotonic() > deadline:
                    return reply
                assert reply[-1]["code"] == "generation_in_progress", reply[-1]
                await asyncio.sleep(0.5)

    reply = asyncio.run(scenario())

    assert reply[-1]["type"] == "chat_end" and reply[-1]["status"] == "complete"  # the conversation takes sends
    state = stored(cluster)
    conversation = state["conversations"]["11_1"]
    (_u1, dead, dead_text), (_u2, second, _) = conversation["messages"][1], conversation["messages"][3]
    assert (dead, second) == ("interrupted", "complete") and dead_text  # the last checkpointed text
    assert conversation["active"] is None
    assert state["slots"] == [] and state["open_reservations"] == 0  # slot freed, reservation settled


def test_dynamodb_unreachable_during_finish_then_back_locks_nothing_and_stores_once(cluster):
    web = cluster.web(FAKE_MODEL_ANSWER_TOKENS="40", CHAT_FINISH_RETRY_SECONDS="1")

    async def scenario():
        async with websockets.connect(web.ws_url, additional_headers=cluster.headers) as ws:
            await ws.send(send("11_2", "cut"))
            frames = await frames_until(ws, "ai_start")
            while len([f for f in frames if f["type"] == "ai_chunk"]) < 20:
                frames += await frames_until(ws, "ai_chunk")
            cluster.proxy.cut()
            frames += await frames_until(ws, "chat_end", "error")
            cluster.proxy.restore()
            await asyncio.sleep(LEASE + 0.5)
            await ws.send(send("11_2", "cut"))  # the client's queued resend: answered, not turn_in_progress
            resent = await frames_until(ws, "chat_end", "error")
            await ws.send(send("11_2", "next", "And now?"))
            following = await frames_until(ws, "chat_end", "error")
            return frames, resent, following

    frames, resent, following = asyncio.run(scenario())

    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "answer_not_saved", frames[-1]
    assert frames[-1]["retryable"] is True
    assert resent[-1]["type"] == "chat_end" and resent[-1]["status"] == "interrupted" and resent[-1]["replayed"]
    assert following[-1]["type"] == "chat_end" and following[-1]["status"] == "complete"
    messages = stored(cluster)["conversations"]["11_2"]["messages"]
    assert [role for role, _s, _c in messages] == ["user", "assistant", "user", "assistant"]  # nothing twice
    assert messages[1][1] == "interrupted" and messages[1][2] and chunk_text(frames).startswith(messages[1][2])


def test_sigterm_lets_answers_finish_within_the_drain_interrupts_the_rest_and_exits(cluster):
    drain = 3.0
    web = cluster.web(CHAT_DRAIN_SECONDS=str(drain), FAKE_MODEL_ANSWER_TOKENS="80")  # 4 s answers

    async def scenario():
        async with (
            websockets.connect(web.ws_url, additional_headers=cluster.headers) as ws,
            websockets.connect(web.ws_url, additional_headers=cluster.headers) as newcomer,
        ):
            await ws.send(send("11_early", "early"))
            frames = await frames_until(ws, "ai_start")
            while len([f for f in frames if f["type"] == "ai_chunk"]) < 50:  # 1.5 s left: ends within the drain
                frames += await frames_until(ws, "ai_chunk")
            await ws.send(send("11_late", "late"))  # 4 s left: outlasts it
            while not any(f["type"] == "ai_start" and f["conversationId"] == "11_late" for f in frames):
                frames += await frames_until(ws, "ai_start")
            web.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.3)
            await newcomer.send(send("11_new", "refused"))
            refused = await frames_until(newcomer, "error")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await newcomer.recv()
            with pytest.raises(websockets.ConnectionClosed) as drained:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=30)))
            return refused[-1], closed.value.rcvd.code, frames, drained.value.rcvd.code, signalled

    refused, refused_close, frames, drained_close, signalled = asyncio.run(scenario())
    web.process.wait(timeout=drain + 10)

    assert web.process.returncode == 0 and time.monotonic() - signalled < drain + 10
    assert refused["code"] == "server_restarting" and refused["retryable"] is True and refused_close == 1012
    ends = {f["conversationId"]: f["status"] for f in frames if f["type"] == "chat_end"}
    assert ends == {"11_early": "complete", "11_late": "interrupted"} and drained_close == 1012
    state = stored(cluster)["conversations"]
    assert state["11_early"]["messages"][1][1] == "complete"
    assert state["11_late"]["messages"][1][1] == "interrupted" and state["11_late"]["messages"][1][2]
    assert "11_new" not in state
