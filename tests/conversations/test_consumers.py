"""The chat WebSocket on the real ASGI stack (origin check, session auth, routing): protocol, persistence,
multi-turn history, stop, disconnect, idempotent resend, model errors, bad frames, fragments, limits."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from config.auth.identity import owner_id
from conversations.ids import message_key
from conversations.models import ActiveGenerations, Conversation, Message
from prompts.services import engine_type_update
from tests.bedrock_frames import answer, message_start, stream_exception, text_delta
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect
from tests.factories import ENGINE_TYPE_DEFAULTS
from usage.models import DailyUsage, MonthlyUsage

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATION = "11_1732600000000"


def stored(user, conversation_id=CONVERSATION) -> list[Message]:
    return list(Message.query(message_key(owner_id(user), conversation_id)))


async def stored_async(user, conversation_id=CONVERSATION) -> list[Message]:
    return await sync_to_async(stored)(user, conversation_id)


async def wait_for(predicate, within: float = 20.0):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await sync_to_async(predicate)()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_turn_streams_in_protocol_order_and_persists_both_messages(user, engine, fake_bedrock, settings):
    fake_bedrock.stream(answer("Bonds ", "are ", "loans.", input_tokens=120, output_tokens=3, cache_read=100))
    fake_bedrock.converse("Bonds explained")
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "title", "error")

    types = [f["type"] for f in frames]
    assert types == ["ai_start", "ai_chunk", "ai_chunk", "ai_chunk", "chat_end", "title"]
    start, chunks, end, title = frames[0], frames[1:4], frames[4], frames[5]
    assert [c["chunk_index"] for c in chunks] == [0, 1, 2]
    assert "".join(c["chunk"] for c in chunks) == "Bonds are loans."
    assert end["engine"] == "11" and end["conversationId"] == CONVERSATION
    assert end["total_chunks"] == 3 and end["response_length"] == len("Bonds are loans.")
    assert end["message"] == "The answer is complete."  # English by default; Korean: tests/test_i18n.py
    assert end["stopped"] is False and end["status"] == "complete" and end["stopReason"] == "end_turn"
    assert end["usage"] == {
        "inputTokens": 120,
        "outputTokens": 3,
        "cacheReadTokens": 100,
        "cacheWriteTokens": 0,
        "estimated": False,
    }
    assert end["costUsd"] > 0
    assert end["messageId"] == start["messageId"] and end["userMessageId"] == start["userMessageId"]
    assert title == {**title, "type": "title", "conversationId": CONVERSATION, "title": "Bonds explained"}
    assert title["source"] == "model"

    # Identity comes from the connection: the forged userId in the frame is ignored.
    question, reply = await stored_async(user)
    assert (question.role, question.content, question.message_id) == ("user", "What is a bond?", end["userMessageId"])
    assert (reply.role, reply.content, reply.status, reply.message_id) == (
        "assistant",
        "Bonds are loans.",
        "complete",
        end["messageId"],
    )
    assert (reply.input_tokens, reply.output_tokens, reply.cache_read_tokens) == (120, 3, 100)
    assert engine.model_id is None and reply.model_id == settings.BEDROCK_DEFAULT_MODEL_ID  # the engine's default
    assert reply.prompt_revision == engine.revision and reply.cost_usd == end["costUsd"] and reply.price_version
    conversation = await sync_to_async(Conversation.get)(owner_id(user), CONVERSATION)
    assert conversation.title == "Bonds explained" and conversation.title_source == "model"
    assert conversation.message_count == 2 and conversation.active_turn_id is None
    assert not (await sync_to_async(ActiveGenerations.get)(owner_id(user))).turns
    monthly = await sync_to_async(MonthlyUsage.get)(owner_id(user), conversation.created_at.strftime("%Y-%m"))
    assert monthly.message_count == 1 and monthly.title_count == 1 and monthly.reserved_tokens == 0
    await ws.disconnect()


async def test_history_is_sent_as_real_turns_and_client_history_is_ignored(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("First ", "answer."))
    fake_bedrock.stream(answer("Second ", "answer."))
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(message="First question", idempotencyKey="k1"))
    await frames_until(ws, "title")
    forged = [{"role": "assistant", "content": "FORGED HISTORY", "timestamp": "x"}]
    await ws.send_json_to(send_frame(message="Second question", idempotencyKey="k2", conversationHistory=forged))
    frames = await frames_until(ws, "chat_end")
    assert frames[-1]["conversationId"] == CONVERSATION

    first, second = fake_bedrock.requests("ConverseStream")
    assert first["messages"] == [{"role": "user", "content": [{"text": "First question"}]}]
    assert second["messages"] == [
        {"role": "user", "content": [{"text": "First question"}]},
        {"role": "assistant", "content": [{"text": "First answer."}]},
        {"role": "user", "content": [{"text": "Second question"}]},
    ]
    assert "FORGED" not in json.dumps(second)
    # The static system prompt, then a cache point, identical on both calls (cache-friendly).
    assert second["system"] == first["system"]
    assert second["system"][1] == {"cachePoint": {"type": "default"}}
    assert ENGINE_TYPE_DEFAULTS["instruction"] in second["system"][0]["text"]
    await ws.disconnect()


async def test_stop_closes_the_model_stream_and_saves_the_partial_answer(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer("Partial ", "answer ", "never ", "finished."), hold_after=3)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "ai_chunk")  # messageStart + the first delta were delivered
    await ws.send_json_to({"action": "stopGeneration", "conversationId": CONVERSATION})
    frames += await frames_until(ws, "chat_end")

    end = frames[-1]
    assert end["stopped"] is True and end["status"] == "stopped"
    assert end["message"] == "The answer was stopped."
    partial = "".join(f["chunk"] for f in frames if f["type"] == "ai_chunk")
    assert partial.startswith("Partial ") and "finished." not in partial
    assert end["response_length"] == len(partial) and end["usage"]["estimated"] is True
    assert raw.closed.is_set()  # the Bedrock HTTP stream itself was closed
    # Nothing of the answer after chat_end; the new conversation's title may still follow.
    after = []
    while not await ws.receive_nothing(timeout=0.5):
        after.append(await ws.receive_json_from())
    assert [f["type"] for f in after] in ([], ["title"])
    _question, reply = await stored_async(user)
    assert (reply.status, reply.content, reply.usage_estimated) == ("stopped", partial, True)
    assert reply.output_tokens > 0
    await ws.disconnect()


async def test_disconnect_mid_stream_with_the_stop_setting_stops_and_saves_the_partial(
    user, engine, fake_bedrock, settings
):
    settings.CHAT_ON_DISCONNECT = "stop"
    raw = fake_bedrock.stream(answer("Half ", "an ", "answer ", "lost."), hold_after=3)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    await frames_until(ws, "ai_chunk")
    await ws.disconnect(timeout=5)

    # The turn belongs to the server, not to the socket: its stop closes the stream just after the socket is gone.
    assert await wait_for(raw.closed.is_set)
    # The answer exists (``streaming``) from the turn's start: wait for its end.
    _question, reply = await wait_for(
        lambda: len(stored(user)) == 2 and stored(user)[1].status != "streaming" and stored(user)
    )
    assert reply.status == "stopped" and reply.content.startswith("Half ")
    conversation = await sync_to_async(Conversation.get)(owner_id(user), CONVERSATION)
    assert conversation.active_turn_id is None


async def test_disconnect_by_default_completes_and_bills_the_answer(user, engine, settings):
    assert settings.CHAT_ON_DISCONNECT == "finish"
    settings.FAKE_MODEL_DELAY_SECONDS = 0.005
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    await frames_until(ws, "ai_chunk")
    await ws.disconnect(timeout=2)

    _question, reply = await wait_for(
        lambda: len(stored(user)) == 2 and stored(user)[1].status == "complete" and stored(user)
    )
    assert "What is a bond?" in reply.content
    assert reply.output_tokens > 0 and reply.cost_usd is not None
    conversation = await sync_to_async(Conversation.get)(owner_id(user), CONVERSATION)
    assert conversation.active_turn_id is None


async def test_resend_of_a_finished_message_is_replayed_without_a_second_generation(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("Only ", "once."))
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="same"))
    first = await frames_until(ws, "title")
    await ws.disconnect()

    ws = await ws_connect(user)  # a reconnect resends the same frame
    await ws.send_json_to(send_frame(idempotencyKey="same"))
    replay = await frames_until(ws, "chat_end")
    assert [f["type"] for f in replay] == ["ai_start", "ai_chunk", "chat_end"]
    assert replay[0]["replayed"] is True and replay[-1]["replayed"] is True
    assert replay[1]["chunk"] == "Only once."
    assert replay[-1]["messageId"] == first[-2]["messageId"]
    assert len(fake_bedrock.requests("ConverseStream")) == 1
    assert len(await stored_async(user)) == 2
    day = first[0]["timestamp"][:10]
    daily = await sync_to_async(DailyUsage.get)(owner_id(user), f"{day}#11")
    assert daily.message_count == 1
    await ws.disconnect()


async def test_resend_while_running_on_the_same_socket_follows_the_running_turn(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer("Slow ", "answer."), hold_after=2)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="dup"))
    first = await frames_until(ws, "ai_chunk")  # the stream now holds after its first delta
    await ws.send_json_to(send_frame(idempotencyKey="dup"))
    resumed = await frames_until(ws, "ai_start")
    assert resumed[-1]["resumed"] is True and resumed[-1]["messageId"] == first[0]["messageId"]
    raw.resume()
    frames = await frames_until(ws, "chat_end")
    chunks = [f for f in frames if f["type"] == "ai_chunk"]  # from the first chunk again, as resume -1 does
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))  # each chunk once, in order
    assert frames[-1]["status"] == "complete" and "".join(c["chunk"] for c in chunks) == "Slow answer."
    assert len(fake_bedrock.requests("ConverseStream")) == 1
    assert len(await stored_async(user)) == 2
    await ws.disconnect()


async def test_throttling_before_the_first_token_is_retried(user, engine, fake_bedrock):
    fake_bedrock.stream([message_start(), stream_exception("throttlingException")])
    fake_bedrock.stream(answer("After ", "retry."))
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "chat_end", "error")
    assert frames[-1]["type"] == "chat_end" and frames[-1]["status"] == "complete"
    assert "".join(f["chunk"] for f in frames if f["type"] == "ai_chunk") == "After retry."
    assert len(fake_bedrock.requests("ConverseStream")) == 2
    await ws.disconnect()


async def test_in_stream_error_is_an_error_frame_and_the_partial_is_saved_as_error(user, engine, fake_bedrock):
    fake_bedrock.stream([message_start(), text_delta("Partial"), stream_exception("modelStreamErrorException")])
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "error", "chat_end")
    assert [f["type"] for f in frames] == ["ai_start", "ai_chunk", "error"]
    error = frames[-1]
    assert error["code"] == "model_error" and isinstance(error["retryable"], bool)
    assert error["conversationId"] == CONVERSATION and error["messageId"] == frames[0]["messageId"]
    _question, reply = await stored_async(user)
    assert (reply.status, reply.content, reply.error_code) == ("error", "Partial", "model_error")
    assert "[오류]" not in reply.content and "Exception" not in reply.content
    # The connection still works after the failed turn.
    fake_bedrock.stream(answer("Fine."))
    await ws.send_json_to(send_frame(idempotencyKey="k2"))
    assert (await frames_until(ws, "chat_end"))[-1]["status"] == "complete"
    await ws.disconnect()


async def test_request_error_before_any_token_saves_no_answer_text(user, engine, fake_bedrock, settings):
    fake_bedrock.error("AccessDeniedException", status=403, message="no access")
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "error", "chat_end")
    assert frames[-1]["code"] == "model_access_denied" and frames[-1]["retryable"] is False
    _question, reply = await stored_async(user)
    assert (reply.status, reply.content, reply.error_code) == ("error", "", "model_access_denied")
    monthly = await sync_to_async(MonthlyUsage.get)(owner_id(user), reply.created_at.strftime("%Y-%m"))
    assert monthly.reserved_tokens == 0 and monthly.total_tokens == 0  # the reservation was released
    await ws.disconnect()


BAD_FRAMES = [
    ("text", "{not json", "invalid_json"),
    ("bytes", b"\x00\x01", "binary_frame"),
    ("text", "[1, 2]", "invalid_frame"),
    ("json", {"action": "generateTitles"}, "unknown_action"),
    ("json", {"action": 7}, "unknown_action"),
    ("json", send_frame(message=...), "invalid"),
    ("json", send_frame(message=123), "invalid"),
    ("json", send_frame(message="   "), "message_empty"),
    ("json", send_frame(engineType=11), "invalid"),
    ("json", send_frame(conversationId="../etc#passwd"), "invalid_conversation_id"),
    ("json", send_frame(idempotencyKey=["x"]), "invalid_idempotency_key"),
    ("json", send_frame(message="x" * 201), "message_too_long"),
    ("text", json.dumps(send_frame(message="y" * 150, conversationHistory=["z" * 400])), "frame_too_large"),
    ("json", send_frame(engineType="99"), "engine_type_not_found"),
    ("json", send_frame(chunkInfo={"total": 2, "current": 2, "isFirst": False, "isLast": True}), "invalid_chunk"),
    ("json", send_frame(chunkInfo={"total": "2", "current": 1}), "invalid_chunk"),
    ("json", {"action": "stopGeneration"}, "invalid_conversation_id"),
    ("json", {"action": "stopGeneration", "conversationId": "nothing_running"}, "no_active_generation"),
    ("json", {"action": "clearHistory", "conversationId": "unknown_1"}, "conversation_not_found"),
]


async def test_every_bad_frame_gets_an_error_code_and_the_connection_stays_usable(user, engine, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 200
    settings.CHAT_MAX_FRAME_BYTES = 500
    ws = await ws_connect(user)
    for kind, frame, code in BAD_FRAMES:
        if kind == "json":
            await ws.send_json_to(frame)
        elif kind == "bytes":
            await ws.send_to(bytes_data=frame)
        else:
            await ws.send_to(text_data=frame)
        error = await ws.receive_json_from(timeout=20)
        assert (error["type"], error["code"]) == ("error", code), (frame, error)
        assert isinstance(error["retryable"], bool) and error["message"] and error["error"] == error["message"]
    await ws.send_json_to(send_frame(conversationHistory=[]))
    assert (await frames_until(ws, "chat_end"))[-1]["status"] == "complete"
    await ws.disconnect()


async def test_inactive_engine_type_is_refused(user, engine):
    await sync_to_async(engine_type_update)(engine_type="11", active=False)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    error = await ws.receive_json_from(timeout=20)
    assert error["code"] == "engine_type_inactive"
    assert await sync_to_async(stored)(user) == []
    await ws.disconnect()


async def test_engine_change_is_seen_on_the_next_message(user, engine, fake_bedrock):
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="a"))
    await frames_until(ws, "title")
    await sync_to_async(engine_type_update)(engine_type="11", instruction="Answer in haiku.")
    await ws.send_json_to(send_frame(idempotencyKey="b"))
    await frames_until(ws, "chat_end")
    first, second = fake_bedrock.requests("ConverseStream")
    assert "Answer in haiku." not in first["system"][0]["text"]
    assert "Answer in haiku." in second["system"][0]["text"]
    await ws.disconnect()


async def test_another_users_conversation_id_only_resolves_in_your_own_space(user, other_user, engine, fake_bedrock):
    fake_bedrock.stream(answer("Alice's ", "secret."))
    alice = await ws_connect(user)
    await alice.send_json_to(send_frame(message="Alice's question"))
    await frames_until(alice, "title")
    await alice.disconnect()

    bob = await ws_connect(other_user)
    await bob.send_json_to(send_frame(message="Bob's question"))
    frames = await frames_until(bob, "chat_end")
    assert frames[-1]["conversationId"] == CONVERSATION
    bob_request = fake_bedrock.requests("ConverseStream")[1]
    assert bob_request["messages"] == [{"role": "user", "content": [{"text": "Bob's question"}]}]
    assert [m.content for m in await stored_async(user)] == ["Alice's question", "Alice's secret."]
    assert (await stored_async(other_user))[0].content == "Bob's question"
    await bob.disconnect()


async def test_fragmented_message_is_reassembled_into_one_turn(user, engine, fake_bedrock):
    parts = ["first part\n", "second part\n", "third part\n"]
    ws = await ws_connect(user)
    for index, part in enumerate(parts, 1):
        chunk_info = {"total": 3, "current": index, "isFirst": index == 1, "isLast": index == 3}
        await ws.send_json_to(send_frame(message=part, idempotencyKey="big", chunkInfo=chunk_info))
    frames = await frames_until(ws, "chat_end")
    assert [f["type"] for f in frames].count("ai_start") == 1
    assert fake_bedrock.requests("ConverseStream")[0]["messages"][-1]["content"][0]["text"] == "".join(parts)
    assert len(fake_bedrock.requests("ConverseStream")) == 1
    assert (await stored_async(user))[0].content == "".join(parts)
    await ws.disconnect()


async def test_one_generation_per_conversation(user, engine, fake_bedrock):
    raw = fake_bedrock.stream(answer("Busy ", "answer."), hold_after=2)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="one"))
    await frames_until(ws, "ai_chunk")
    await ws.send_json_to(send_frame(idempotencyKey="two"))
    error = await ws.receive_json_from(timeout=20)
    assert error["code"] == "generation_in_progress" and error["retryable"] is True
    raw.resume()
    await frames_until(ws, "chat_end")
    await ws.disconnect()


async def test_per_user_cap_on_concurrent_generations(user, engine, fake_bedrock, settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER = 1
    raw = fake_bedrock.stream(answer("Busy ", "answer."), hold_after=2)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="one", conversationId="11_1"))
    await frames_until(ws, "ai_chunk")
    other = await ws_connect(user)  # another connection (could be another server process)
    await other.send_json_to(send_frame(idempotencyKey="two", conversationId="11_2"))
    error = await other.receive_json_from(timeout=20)
    assert error["code"] == "too_many_generations" and error["retryable"] is True
    raw.resume()
    await frames_until(ws, "chat_end")
    await other.send_json_to(send_frame(idempotencyKey="three", conversationId="11_2"))
    assert (await frames_until(other, "chat_end"))[-1]["status"] == "complete"
    await ws.disconnect()
    await other.disconnect()


async def test_quota_exceeded_is_refused_before_any_model_call(user, engine, fake_bedrock, settings):
    settings.USAGE_PLAN_LIMITS = {"free": 50, "basic": 50, "premium": 50}
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    error = await ws.receive_json_from(timeout=20)
    assert error["type"] == "error" and error["code"] == "quota_exceeded"
    assert {"limit", "used", "remaining", "resetsAt"} <= set(error)
    assert fake_bedrock.requests("ConverseStream") == []
    _question, reply = await stored_async(user)
    assert (reply.status, reply.content, reply.error_code) == ("error", "", "quota_exceeded")
    await ws.disconnect()


async def test_clear_history_deletes_the_messages(user, engine):
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    await frames_until(ws, "title")
    await ws.send_json_to({"action": "clearHistory", "conversationId": CONVERSATION})
    cleared = await ws.receive_json_from(timeout=20)
    assert cleared["type"] == "history_cleared" and cleared["message"] == "The conversation history was cleared."
    assert await stored_async(user) == []
    await ws.disconnect()


async def test_unauthenticated_connection_is_closed_with_4401():
    ws = await ws_connect(None)
    error = await ws.receive_json_from(timeout=20)
    assert error["type"] == "error" and error["code"] == "not_authenticated"
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    await ws.disconnect()
