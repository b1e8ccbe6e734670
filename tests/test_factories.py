"""The shared test API (tests/factories.py, tests/conftest.py): frozen time reaches every clock the code reads."""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from config.auth.identity import owner_id
from config.clock import utcnow
from config.errors import QuotaExceeded
from conversations.ids import message_key
from conversations.models import Conversation, Message
from prompts.models import EngineType
from tests.bedrock_frames import answer
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect
from tests.factories import NOW, conversation_make, engine_type_make, message_make, usage_spend
from usage.models import DailyUsage, MonthlyUsage, UsageReservation


def test_frozen_time_stops_utcnow_and_time_at_now_until_moved(frozen_time):
    assert utcnow() == NOW
    assert time.time() == NOW.timestamp()
    time.sleep(0.01)
    assert utcnow() == NOW

    frozen_time.shift(timedelta(minutes=5))
    assert utcnow() == NOW + timedelta(minutes=5)

    frozen_time.move_to(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert utcnow() == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


async def test_asyncio_sleeps_and_timeouts_end_while_time_is_frozen(frozen_time):
    # The event loop runs on time.monotonic, which time-machine leaves running: a frozen one would hang here.
    await asyncio.wait_for(asyncio.sleep(0.02), timeout=10)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.Event().wait(), timeout=0.02)

    assert utcnow() == NOW


def test_dynamodb_writes_and_pynamodb_datetimes_keep_the_frozen_instant(frozen_time):
    message_make(user_id="alice", content="first")
    frozen_time.shift(1.5)
    message_make(user_id="alice", content="second")

    stored = list(Message.query(message_key("alice", "c1")))

    assert [(m.content, m.created_at) for m in stored] == [
        ("first", NOW),
        ("second", NOW + timedelta(seconds=1.5)),
    ]


def test_engine_fixture_is_the_active_engine_type_11_stored_at_the_frozen_instant(frozen_time, engine):
    stored = EngineType.get("11")

    assert engine.engine_type == stored.engine_type == "11"
    assert stored.active is True
    assert (stored.name, stored.description, stored.instruction, stored.updated_by) == (
        "Financial press releases",
        "A financial journalist.",
        "Write short sentences.",
        "seed",
    )
    assert stored.created_at == stored.updated_at == NOW
    assert stored.revision == int(NOW.timestamp() * 1000)


def test_engine_type_make_overrides_the_defaults():
    made = engine_type_make("22", name="Corporate", active=False)

    stored = EngineType.get("22")
    assert made.engine_type == "22"
    assert (stored.name, stored.active, stored.instruction) == ("Corporate", False, "Write short sentences.")


def test_plan_limits_sets_the_plans_and_no_engine_limits(plan_limits):
    assert plan_limits == {"free": 10_000, "basic": 100_000, "premium": 500_000}
    assert plan_limits == settings.USAGE_PLAN_LIMITS
    assert settings.USAGE_ENGINE_LIMITS == {}
    assert settings.USAGE_DEFAULT_PLAN == "free"


def test_usage_spend_settles_a_reservation_into_the_day_month_and_engine_buckets(frozen_time, plan_limits):
    charge = usage_spend(user_id="alice", input_tokens=1_000, output_tokens=234)
    title = usage_spend(user_id="alice", input_tokens=100, output_tokens=50, kind="title")

    assert charge.recorded is True and charge.total_tokens == 1_234 and charge.cost > Decimal(0)
    assert title.total_tokens == 150
    day = DailyUsage.get("alice", "2026-11-15#11")
    assert (day.input_tokens, day.output_tokens, day.total_tokens) == (1_100, 284, 1_384)
    assert (day.message_count, day.title_count, day.title_tokens) == (1, 1, 150)
    assert day.updated_at == NOW
    for bucket in ("2026-11", "2026-11#11"):
        month = MonthlyUsage.get("alice", bucket)
        assert (month.total_tokens, month.reserved_tokens, month.allocated_tokens) == (1_384, 0, 1_384)
    assert [r.status for r in UsageReservation.scan()] == ["settled", "settled"]


def test_usage_spend_records_up_to_the_limit_and_is_refused_once_it_is_allocated(plan_limits):
    usage_spend(user_id="alice", engine_type="22", input_tokens=0, output_tokens=9_999)
    usage_spend(user_id="alice", engine_type="22", input_tokens=0, output_tokens=5)

    month = MonthlyUsage.get("alice", utcnow().strftime("%Y-%m"))
    assert (month.total_tokens, month.allocated_tokens) == (10_004, 10_004)
    with pytest.raises(QuotaExceeded):
        usage_spend(user_id="alice", engine_type="22", input_tokens=1)


def test_conversation_make_stores_a_head_under_the_owner(frozen_time):
    made = conversation_make(user_id="alice", title="Bonds", message_count=2)
    conversation_make(user_id="alice", conversation_id="c2", engine_type="22", created_at=NOW - timedelta(days=1))

    stored = Conversation.get("alice", "c1")
    older = Conversation.get("alice", "c2")
    assert made.conversation_id == "c1"
    assert (stored.engine_type, stored.user_engine, stored.title) == ("11", "alice#11", "Bonds")
    assert stored.message_count == 2
    assert stored.created_at == stored.updated_at == NOW
    assert older.user_engine == "alice#22"
    assert older.created_at == older.updated_at == NOW - timedelta(days=1)


def test_message_make_takes_an_explicit_id_and_fields():
    message_make(user_id="bob", conversation_id="c9", role="assistant", content="ok", message_id="m1", status="stopped")

    stored = Message.get(message_key("bob", "c9"), "m1")
    assert (stored.role, stored.content, stored.status) == ("assistant", "ok", "stopped")


@pytest.mark.django_db(transaction=True)
async def test_a_chat_turn_over_the_websocket_runs_under_frozen_time(frozen_time, user, engine, fake_bedrock):
    fake_bedrock.stream(answer("Bonds ", "are loans.", input_tokens=20, output_tokens=2))
    fake_bedrock.converse("Bonds explained")
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "title", "error")
    await ws.disconnect()

    assert [f["type"] for f in frames[-2:]] == ["chat_end", "title"] and frames[-2]["status"] == "complete"
    key = message_key(owner_id(user), "11_1732600000000")
    stored = await sync_to_async(lambda: list(Message.query(key)))()
    assert [(m.role, m.created_at) for m in stored] == [("user", NOW), ("assistant", NOW)]
    month = await sync_to_async(MonthlyUsage.get)(owner_id(user), "2026-11")
    assert month.updated_at == NOW
