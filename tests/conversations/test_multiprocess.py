"""Two server processes on one real redis-server and one DynamoDB (moto_server): an answer streaming on process 1
is resumed from process 2, reaches a second socket there, is attached to (not generated again) by a resend on
process 2, and is stopped by a stopGeneration sent to process 2."""

import asyncio
import json

import pytest
import websockets

from tests.conversations.live_stack import LiveCluster
from tests.conversations.test_generation_recovery import QUICK, frames_until, send

pytestmark = pytest.mark.server

# Longer than redis-py 8's 5 s default socket timeout, which killed idle consumers (channels_redis#422).
IDLE_SECONDS = 6.5


def chunks(frames: list[dict]) -> list[tuple[int, str]]:
    return [(f["chunk_index"], f["chunk"]) for f in frames if f["type"] == "ai_chunk"]


def test_two_processes_share_one_answer_through_redis(tmp_path):
    cluster = LiveCluster(tmp_path, redis=True, **QUICK, FAKE_MODEL_ANSWER_TOKENS="300")
    try:
        one, two = cluster.web(WEB_CONCURRENCY="2"), cluster.web(WEB_CONCURRENCY="2")

        async def scenario():
            headers = cluster.headers
            async with (
                websockets.connect(two.ws_url, additional_headers=headers) as idle,
                websockets.connect(one.ws_url, additional_headers=headers) as sender,
            ):
                await asyncio.sleep(IDLE_SECONDS)
                await sender.send(send("11_shared", "shared"))
                seen = await frames_until(sender, "ai_start")
                while len(chunks(seen)) < 5:
                    seen += await frames_until(sender, "ai_chunk")
                last = chunks(seen)[-1][0]
                async with (
                    websockets.connect(two.ws_url, additional_headers=headers) as resumer,
                    websockets.connect(two.ws_url, additional_headers=headers) as second_tab,
                    websockets.connect(two.ws_url, additional_headers=headers) as resender,
                ):
                    resume = {"action": "resume", "conversationId": "11_shared"}
                    await resumer.send(json.dumps(resume | {"afterChunkIndex": last}))
                    await second_tab.send(json.dumps(resume | {"afterChunkIndex": -1}))
                    resumed = await frames_until(resumer, "ai_start")
                    while len(chunks(resumed)) < 5:
                        resumed += await frames_until(resumer, "ai_chunk")
                    tab = await frames_until(second_tab, "ai_start")
                    await resender.send(send("11_shared", "shared"))  # a reconnected client replays its send
                    resent = await frames_until(resender, "ai_start")
                    await resumer.send(json.dumps({"action": "stopGeneration", "conversationId": "11_shared"}))
                    resumed += await frames_until(resumer, "chat_end")
                    tab += await frames_until(second_tab, "chat_end")
                    resent += await frames_until(resender, "chat_end")
                    seen += await frames_until(sender, "chat_end")
                await idle.send(json.dumps(resume | {"afterChunkIndex": -1}))  # still connected after idling
                replay = await frames_until(idle, "chat_end")
                return seen, last, resumed, tab, resent, replay

        seen, last, resumed, tab, resent, replay = asyncio.run(scenario())
        stored = cluster.manage("from conversations.models import Message\nprint(sum(1 for _ in Message.scan()))")
    finally:
        cluster.close()

    assert resumed[0]["resumed"] is True and resumed[0]["messageId"] == seen[0]["messageId"]
    # Exactly what it missed after the last chunk it saw, then live: each index once, in order, as sent.
    assert chunks(resumed) == [chunk for chunk in chunks(seen) if chunk[0] > last]
    assert chunks(tab) == chunks(seen)  # the second socket on process 2: the identical sequence
    assert resent[0]["resumed"] is True and chunks(resent) == chunks(seen)  # attached on process 2, not generated
    assert stored.strip().splitlines()[-1] == "2"  # one user message, one answer
    ends = [frames[-1] for frames in (seen, resumed, tab, resent)]
    assert all(end["type"] == "chat_end" and end["stopped"] is True for end in ends)  # stopped from process 2
    assert ends[0]["total_chunks"] < 300  # the model stream really stopped
    assert chunks(replay) == chunks(seen) and replay[-1]["status"] == "stopped"
