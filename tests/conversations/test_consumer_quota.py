"""Quota enforcement and usage recording seen through the chat WebSocket (the real ASGI stack)."""

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from config.auth.identity import owner_id
from config.clock import iso_z, utcnow
from tests.bedrock_frames import answer
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect
from tests.factories import usage_spend
from usage.models import DailyUsage, MonthlyUsage, UsageReservation
from usage.plans import month_key, month_resets_at

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _limits(settings, plan_limits):
    settings.USAGE_MIN_OUTPUT_TOKENS = 256


def spend(user_id: str, tokens: int) -> None:
    usage_spend(user_id=user_id, engine_type="22", input_tokens=0, output_tokens=tokens)


def month_bucket(user_id: str) -> MonthlyUsage:
    return MonthlyUsage.get(user_id, month_key(utcnow()))


async def test_over_quota_send_is_refused_before_any_model_call(user, engine, fake_bedrock):
    uid = owner_id(user)
    await sync_to_async(spend)(uid, 9_950)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    error = await ws.receive_json_from(timeout=5)
    await ws.disconnect()

    assert error["type"] == "error" and error["code"] == "quota_exceeded"
    assert (error["limit"], error["used"], error["remaining"]) == (10_000, 9_950, 50)
    assert error["resetsAt"] == iso_z(month_resets_at(utcnow()))
    assert fake_bedrock.requests("ConverseStream") == [] and fake_bedrock.requests("Converse") == []
    bucket = await sync_to_async(month_bucket)(uid)
    assert (bucket.total_tokens, bucket.reserved_tokens, bucket.allocated_tokens) == (9_950, 0, 9_950)
    assert await sync_to_async(lambda: list(UsageReservation.open_by_user.query(uid)))() == []


async def test_nearly_exhausted_allowance_clamps_the_models_max_tokens(user, engine, fake_bedrock):
    uid = owner_id(user)
    await sync_to_async(spend)(uid, 9_000)
    fake_bedrock.stream(answer("Short.", input_tokens=300, output_tokens=2))
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    await frames_until(ws, "chat_end")
    await ws.disconnect()

    max_tokens = fake_bedrock.requests("ConverseStream")[0]["inferenceConfig"]["maxTokens"]
    assert 256 <= max_tokens < 1_000  # clamped to what is left of the 1,000 tokens, not the engine's 4,096
    bucket = await sync_to_async(month_bucket)(uid)
    assert bucket.total_tokens - bucket.title_tokens == 9_302
    assert bucket.allocated_tokens == bucket.total_tokens + bucket.reserved_tokens


async def test_turn_is_counted_once_from_the_models_report_whatever_the_client_posts(user, engine, fake_bedrock):
    uid = owner_id(user)
    fake_bedrock.stream(answer("Bonds ", "are ", "loans.", input_tokens=120, output_tokens=3, cache_read=100))
    fake_bedrock.converse("Bonds explained", input_tokens=40, output_tokens=4)
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame())
    await frames_until(ws, "title")
    await ws.disconnect()

    def client_reports_usage():
        client = APIClient()
        client.force_authenticate(user)
        body = {"userId": uid, "engineType": "11", "inputText": "What is a bond?", "outputText": "Bonds are loans."}
        return client.post("/api/usage/update", body, format="json").json()

    reported = await sync_to_async(client_reports_usage)()
    assert reported["recorded"] is False and reported["tokensUsed"] == 267

    bucket = await sync_to_async(month_bucket)(uid)
    assert (bucket.total_tokens, bucket.message_count, bucket.title_count, bucket.title_tokens) == (267, 1, 1, 44)
    assert (bucket.input_tokens, bucket.output_tokens, bucket.cache_read_tokens) == (160, 7, 100)
    assert bucket.reserved_tokens == 0 and bucket.allocated_tokens == 267
    day = await sync_to_async(DailyUsage.get)(uid, f"{utcnow().date().isoformat()}#11")
    assert (day.total_tokens, day.message_count) == (267, 1)
