"""Fault injection at each step of a turn (tests/hardening/faults.py hooks the real PynamoDB clients; Bedrock is the
real adapter fed by ``fake_bedrock``). Each case: the client gets a coded frame, nothing stored is lost or
duplicated, and no lease, slot or reservation outlives its lease."""

from collections import Counter
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from botocore.exceptions import EndpointConnectionError

from config.auth.identity import owner_id
from conversations.ids import message_key
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.services.turn_recovery import turn_recover
from tests.bedrock_frames import answer, stream_exception, text_delta
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect
from tests.hardening import faults as steps
from tests.hardening.faults import dynamodb_faults
from usage.models import UsageReservation
from usage.services import reservations_expire_stale

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATION = "11_1732600000000"
UNREACHABLE = EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


def ledger(user) -> dict:
    user_id = owner_id(user)
    messages = list(Message.query(message_key(user_id, CONVERSATION), consistent_read=True))
    try:
        conversation = Conversation.get(user_id, CONVERSATION, consistent_read=True)
    except Conversation.DoesNotExist:
        conversation = None
    try:
        slots = ActiveGenerations.get(user_id, consistent_read=True).turns or set()
    except ActiveGenerations.DoesNotExist:
        slots = set()
    return {
        "messages": messages,
        "roles": Counter((m.turn_id, m.role) for m in messages),
        "conversation": conversation,
        "slots": slots,
        "reservations": sorted(r.status for r in UsageReservation.scan()),
        "keys": {r.key.split("#", 1)[1]: r.status for r in IdempotencyRecord.scan()},
    }


async def state(user) -> dict:
    return await sync_to_async(ledger)(user)


def assert_settled(book: dict) -> None:
    """Nothing held: no lease on the conversation, no slot, no open reservation, no running key; and every turn
    has exactly one question and at most one answer."""
    assert book["slots"] == set()
    assert book["conversation"] is None or book["conversation"].active_turn_id is None
    assert "reserved" not in book["reservations"]
    assert "running" not in book["keys"].values()
    assert all(count == 1 for count in book["roles"].values()), book["roles"]


async def one_turn(user, **frame) -> list[dict]:
    """A first exchange, up to its title (its reservation is settled by then) or its error."""
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(**frame))
    frames = await frames_until(ws, "title", "error")
    await ws.disconnect()
    return frames


async def test_begin_unreachable_stores_nothing_and_the_same_key_works_once_it_is_back(user, engine, fake_bedrock):
    with dynamodb_faults() as faults:
        faults.fail("TransactWriteItems", UNREACHABLE, times=None, when=steps.begin)
        frames = await one_turn(user)
    error = frames[-1]
    assert (error["type"], error["code"], error["retryable"]) == ("error", "dynamodb_unavailable", True)
    book = await state(user)
    assert book["messages"] == [] and book["conversation"] is None and book["keys"] == {}
    assert book["reservations"] == []
    assert_settled(book)

    fake_bedrock.stream(answer("Back."))
    assert [f["type"] for f in await one_turn(user)][-2:] == ["chat_end", "title"]
    book = await state(user)
    assert sorted(m.role for m in book["messages"]) == ["assistant", "user"]
    assert book["keys"] == {"key-1": "complete"}
    assert_settled(book)


async def test_begin_failing_twice_is_retried_by_botocore_and_applied_once(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("Once."))
    with dynamodb_faults() as faults:
        fault = faults.fail("TransactWriteItems", 500, times=2, when=steps.begin)
        frames = await one_turn(user)
    assert fault.hits == 2 and [f["type"] for f in frames][-2:] == ["chat_end", "title"]
    book = await state(user)
    assert [m.content for m in book["messages"] if m.role == "assistant"] == ["Once."]
    assert book["conversation"].message_count == 2
    assert_settled(book)


async def test_failing_checkpoints_do_not_end_the_turn(user, engine, fake_bedrock, settings):
    settings.CHAT_CHECKPOINT_SECONDS = 0.02
    fake_bedrock.stream(answer(*[f"w{n} " for n in range(8)]), delay=0.03)
    with dynamodb_faults() as faults:
        checkpoints = faults.fail("UpdateItem", UNREACHABLE, times=None, when=steps.table("messages"))
        frames = await one_turn(user)
    assert checkpoints.hits >= 1  # the heartbeat tried, failed, and the answer streamed on
    assert frames[-2]["type"] == "chat_end" and frames[-2]["status"] == "complete"
    book = await state(user)
    assert [m.content for m in book["messages"] if m.role == "assistant"] == ["".join(f"w{n} " for n in range(8))]
    assert_settled(book)


async def test_a_finish_outage_shorter_than_the_retry_window_is_ridden_out(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("Kept."))
    with dynamodb_faults() as faults:
        fault = faults.fail("TransactWriteItems", UNREACHABLE, times=6, when=steps.finish)  # past botocore's retries
        frames = await one_turn(user)
    assert fault.hits == 6 and [f["type"] for f in frames][-2:] == ["chat_end", "title"]
    book = await state(user)
    assert [(m.content, m.status) for m in book["messages"] if m.role == "assistant"] == [("Kept.", "complete")]
    assert book["reservations"] == ["settled", "settled"] and book["keys"] == {"key-1": "complete"}
    assert_settled(book)


async def test_a_finish_outage_past_the_window_is_answer_not_saved_and_recovered_after_the_lease(
    user, engine, fake_bedrock, settings, frozen_time
):
    settings.CHAT_FINISH_RETRY_SECONDS = 0.3
    fake_bedrock.stream(answer("Lost? ", "No."))
    with dynamodb_faults() as faults:
        faults.fail("TransactWriteItems", UNREACHABLE, times=None, when=steps.finish)
        frames = await one_turn(user)
    error = frames[-1]
    assert (error["type"], error["code"], error["retryable"]) == ("error", "answer_not_saved", True)
    held = await state(user)
    assert held["conversation"].active_turn_id is not None and len(held["slots"]) == 1  # held, for a lease only

    frozen_time.shift(timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS + 1))
    ended = await sync_to_async(turn_recover)(user_id=owner_id(user), conversation_id=CONVERSATION)
    assert ended is not None and ended.status == "interrupted"
    book = await state(user)
    assert [m.role for m in book["messages"]].count("user") == 1
    assert [m.status for m in book["messages"] if m.role == "assistant"] == ["interrupted"]
    await sync_to_async(reservations_expire_stale)(user_id=owner_id(user))
    book = await state(user)
    assert_settled(book)


@pytest.mark.parametrize(
    ("operation", "step"),
    [
        ("TransactWriteItems", steps.title_reservation),
        ("TransactWriteItems", steps.title_settlement),
    ],
    ids=["title reservation", "title settlement"],
)
async def test_title_usage_outages_fall_back_to_the_message_and_hold_nothing_past_the_lease(
    user, engine, fake_bedrock, settings, frozen_time, operation, step
):
    fake_bedrock.stream(answer("An answer."))
    fake_bedrock.converse("Model title")
    ws = await ws_connect(user)
    with dynamodb_faults() as faults:
        faults.fail(operation, UNREACHABLE, times=None, when=step)
        await ws.send_json_to(send_frame(message="Bonds and loans"))
        frames = await frames_until(ws, "title", "error")
    await ws.disconnect()
    assert [f["type"] for f in frames][-2:] == ["chat_end", "title"]
    assert (frames[-1]["title"], frames[-1]["source"]) == ("Bonds and loans", "message")
    frozen_time.shift(timedelta(seconds=settings.USAGE_RESERVATION_LEASE_SECONDS + 1))
    await sync_to_async(reservations_expire_stale)(user_id=owner_id(user))
    book = await state(user)
    assert [m.content for m in book["messages"] if m.role == "assistant"] == ["An answer."]
    assert book["conversation"].title == "Bonds and loans"
    assert_settled(book)


async def test_the_title_write_failing_is_a_coded_frame_after_the_stored_answer(user, engine, fake_bedrock):
    fake_bedrock.stream(answer("An answer."))
    fake_bedrock.converse("Model title")
    ws = await ws_connect(user)
    with dynamodb_faults() as faults:
        faults.fail("UpdateItem", UNREACHABLE, times=None, when=steps.table("conversations"))
        await ws.send_json_to(send_frame())
        frames = await frames_until(ws, "title", "error")
    await ws.disconnect()
    assert [f["type"] for f in frames][-2:] == ["chat_end", "error"]
    assert (frames[-1]["code"], frames[-1]["retryable"]) == ("dynamodb_unavailable", True)
    book = await state(user)
    assert [m.content for m in book["messages"] if m.role == "assistant"] == ["An answer."]
    assert book["reservations"] == ["settled", "settled"]  # the answer's and the title's
    assert_settled(book)


async def test_bedrock_unavailable_before_the_first_token(user, engine, fake_bedrock, settings):
    settings.BEDROCK_MAX_RETRIES = 0
    for _ in range(8):  # more than every retry, so the model never answers
        fake_bedrock.error("ServiceUnavailableException", status=503, message="down")
    frames = await one_turn(user)
    error = frames[-1]
    assert error["type"] == "error" and error["code"].startswith("model_") and error["retryable"] is True
    book = await state(user)
    assert [m.role for m in book["messages"]].count("user") == 1
    assert [(m.status, m.content) for m in book["messages"] if m.role == "assistant"] == [("error", "")]
    assert book["reservations"] == ["released"]  # nothing was used, so nothing is charged
    assert_settled(book)


async def test_bedrock_failing_after_the_first_token_keeps_the_partial_answer(user, engine, fake_bedrock):
    fake_bedrock.stream([text_delta("Partial "), stream_exception("modelStreamErrorException", "broken")])
    frames = await one_turn(user)
    error = frames[-1]
    assert error["type"] == "error" and error["code"].startswith("model_") and error["messageId"]
    assert [f["chunk"] for f in frames if f["type"] == "ai_chunk"] == ["Partial "]
    book = await state(user)
    assert [(m.status, m.content) for m in book["messages"] if m.role == "assistant"] == [("error", "Partial ")]
    assert book["reservations"] == ["settled"]  # the partial answer is billed, estimated
    assert_settled(book)
