"""Resume and multi-tab on the real ASGI stack: a generation belongs to the server, its frames reach every socket
that follows the conversation, a socket that (re)attaches gets exactly what it missed, then the live frames."""

import pytest
from asgiref.sync import sync_to_async

from config.auth.identity import owner_id
from conversations.ids import message_key
from conversations.models import Message
from tests.bedrock_frames import answer
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATION = "11_1732600000000"
WORDS = ("Bonds ", "are ", "loans ", "to ", "issuers.")
TEXT = "".join(WORDS)


def resume(after: int, conversation_id: str = CONVERSATION) -> dict:
    return {"action": "resume", "conversationId": conversation_id, "afterChunkIndex": after}


def chunks(frames: list[dict]) -> list[tuple[int, str]]:
    return [(f["chunk_index"], f["chunk"]) for f in frames if f["type"] == "ai_chunk"]


def without_timestamps(frame: dict) -> dict:
    return {k: v for k, v in frame.items() if k not in ("timestamp", "resumed")}


async def stored(user) -> list[Message]:
    return await sync_to_async(lambda: list(Message.query(message_key(owner_id(user), CONVERSATION))))()


async def test_a_socket_resumes_after_the_last_chunk_another_saw_then_follows_live(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer(*WORDS), hold_after=3)  # two chunks go out, then the model pauses
    first = await ws_connect(user)
    await first.send_json_to(send_frame())
    seen = await frames_until(first, "ai_chunk")  # the first tab saw chunk 0, then dropped
    await first.disconnect()

    second = await ws_connect(user)
    await second.send_json_to(resume(0))
    start = await second.receive_json_from(timeout=10)
    replayed = await frames_until(second, "ai_chunk")
    raw.resume()
    rest = await frames_until(second, "chat_end")

    assert start["type"] == "ai_start" and start["resumed"] is True
    assert start["messageId"] == seen[0]["messageId"] and start["conversationId"] == CONVERSATION
    assert chunks(replayed) == [(1, WORDS[1])]  # exactly the missing chunk, from the replay log
    assert chunks(replayed + rest) == [(i, WORDS[i]) for i in range(1, len(WORDS))]  # then live, none twice
    end = rest[-1]
    assert end["status"] == "complete" and end["total_chunks"] == len(WORDS)
    assert chunks(seen)[0][1] + "".join(text for _i, text in chunks(replayed + rest)) == TEXT
    _question, reply = await stored(user)
    assert (reply.content, reply.status) == (TEXT, "complete")
    await second.disconnect()


async def test_a_second_tab_resuming_from_the_start_gets_the_identical_sequence(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer(*WORDS), hold_after=1)  # nothing streamed yet: right after ai_start
    tab1 = await ws_connect(user)
    await tab1.send_json_to(send_frame())
    start1 = await tab1.receive_json_from(timeout=10)
    tab2 = await ws_connect(user)
    await tab2.send_json_to(resume(-1))
    start2 = await tab2.receive_json_from(timeout=10)
    raw.resume()
    frames1 = await frames_until(tab1, "chat_end")
    frames2 = await frames_until(tab2, "chat_end")

    assert start2["resumed"] is True and "resumed" not in start1
    assert without_timestamps(start1) == without_timestamps(start2)
    assert [without_timestamps(f) for f in frames1] == [without_timestamps(f) for f in frames2]
    assert "".join(text for _i, text in chunks(frames2)) == TEXT
    await tab1.disconnect()
    await tab2.disconnect()


async def test_an_answer_that_just_finished_is_resumed_from_the_log(user, engine, fake_bedrock):
    fake_bedrock.stream(answer(*WORDS))
    tab1 = await ws_connect(user)
    await tab1.send_json_to(send_frame())
    original = await frames_until(tab1, "chat_end")
    await frames_until(tab1, "title")  # the turn's last event: a later tab would get it live, between its frames

    tab2 = await ws_connect(user)
    await tab2.send_json_to(resume(-1))
    everything = await frames_until(tab2, "chat_end")
    await tab2.send_json_to(resume(2))
    tail = await frames_until(tab2, "chat_end")

    assert everything[0]["type"] == "ai_start" and everything[0]["resumed"] is True
    assert chunks(everything) == chunks(original) == [(i, w) for i, w in enumerate(WORDS)]
    assert without_timestamps(everything[-1]) == without_timestamps(original[-1])
    assert tail[0]["resumed"] is True and chunks(tail) == [(3, WORDS[3]), (4, WORDS[4])]
    await tab1.disconnect()
    await tab2.disconnect()


async def test_a_resend_from_another_socket_attaches_to_the_running_turn(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer(*WORDS), hold_after=3)
    sender = await ws_connect(user)
    await sender.send_json_to(send_frame(idempotencyKey="reconnect"))
    await frames_until(sender, "ai_chunk")
    await sender.disconnect()  # the network drops; the client reconnects and replays its queued send

    again = await ws_connect(user)
    await again.send_json_to(send_frame(idempotencyKey="reconnect"))
    start = await again.receive_json_from(timeout=10)
    raw.resume()
    frames = await frames_until(again, "chat_end")

    assert start["type"] == "ai_start" and start["resumed"] is True
    assert chunks(frames) == [(i, w) for i, w in enumerate(WORDS)]  # the whole answer, each chunk once
    assert frames[-1]["status"] == "complete"
    assert len(fake_bedrock.requests("ConverseStream")) == 1  # never a second generation
    question, reply = await stored(user)  # exactly one user message and one answer
    assert (question.role, reply.role, reply.content) == ("user", "assistant", TEXT)
    await again.disconnect()


async def test_stop_from_another_socket_stops_the_stream_for_every_follower(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer(*WORDS), hold_after=3)
    sender = await ws_connect(user)
    await sender.send_json_to(send_frame())
    await frames_until(sender, "ai_chunk")
    other = await ws_connect(user)
    await other.send_json_to(resume(-1))
    await frames_until(other, "ai_start")
    await other.send_json_to({"action": "stopGeneration", "conversationId": CONVERSATION})

    ends = [(await frames_until(ws, "chat_end"))[-1] for ws in (sender, other)]
    assert all(end["stopped"] is True and end["status"] == "stopped" for end in ends)
    assert ends[0]["messageId"] == ends[1]["messageId"]
    assert raw.closed.is_set()  # the Bedrock stream itself was closed
    _question, reply = await stored(user)
    assert reply.status == "stopped" and TEXT.startswith(reply.content) and reply.content != TEXT
    await sender.disconnect()
    await other.disconnect()


async def test_a_socket_that_sent_on_a_conversation_sees_the_next_turn_started_elsewhere(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("First."))
    fake_bedrock.stream(answer(*WORDS))
    tab1 = await ws_connect(user)
    await tab1.send_json_to(send_frame(idempotencyKey="k1"))
    await frames_until(tab1, "title")
    tab2 = await ws_connect(user)
    await tab2.send_json_to(send_frame(idempotencyKey="k2", message="And shares?"))
    mine = await frames_until(tab2, "chat_end")
    synced = await frames_until(tab1, "chat_end")

    assert [without_timestamps(f) for f in synced] == [without_timestamps(f) for f in mine]
    await tab1.disconnect()
    await tab2.disconnect()


async def test_nothing_to_resume_is_an_error_and_the_socket_stays_usable(user, engine, fake_bedrock):
    ws = await ws_connect(user)
    await ws.send_json_to(resume(-1))
    error = await ws.receive_json_from(timeout=10)
    await ws.send_json_to({"action": "resume", "conversationId": CONVERSATION, "afterChunkIndex": "3"})
    invalid = await ws.receive_json_from(timeout=10)
    await ws.send_json_to({"action": "stopGeneration", "conversationId": CONVERSATION})
    not_running = await ws.receive_json_from(timeout=10)

    assert error["type"] == "error" and error["code"] == "nothing_to_resume"
    assert error["conversationId"] == CONVERSATION and error["truncated"] is False
    assert invalid["code"] == "invalid_chunk_index"
    assert not_running["code"] == "no_active_generation"
    await ws.disconnect()
