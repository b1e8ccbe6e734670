"""The turn use case: validation, history as turns, DynamoDB requests per turn, idempotency and claims."""

import asyncio

import pytest
from pynamodb.connection.base import Connection

from config.clock import utcnow
from config.errors import ValidationFailed
from conversations.fake_model import FakeModel
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.turns import (
    TurnDelta,
    TurnEnded,
    TurnReplay,
    TurnStarted,
    history_turns,
    turn_begin,
    turn_request_build,
    turn_run,
)
from tests.conversations.chat_helpers import engine_create


def msg(role, content, status="complete"):
    return Message("k", f"{len(content):013d}-x", role=role, content=content, status=status, created_at=utcnow())


def request(user_id="local:1", **fields):
    values = {"user_id": user_id, "is_staff": False, "engine_type": "11", "message": "Hello?"}
    values.update(fields)
    return turn_request_build(**values)


async def run(turn_request, stop=None):
    return [event async for event in turn_run(turn_request, stop=stop or asyncio.Event())]


class TestHistoryTurns:
    def test_alternating_turns_skip_failed_and_unanswered_exchanges(self):
        messages = [
            msg("user", "q1"),
            msg("assistant", "a1"),
            msg("user", "q2"),
            msg("assistant", "", status="error"),
            msg("user", "q3 (no answer: crashed)"),
            msg("user", "q4"),
            msg("assistant", "a4 partial", status="stopped"),
        ]
        assert history_turns(messages, max_turns=10, token_budget=10_000) == [
            {"role": "user", "text": "q1"},
            {"role": "assistant", "text": "a1"},
            {"role": "user", "text": "q4"},
            {"role": "assistant", "text": "a4 partial"},
        ]

    def test_keeps_the_newest_turns_within_count_and_token_budget(self):
        messages = []
        for i in range(5):
            messages += [msg("user", f"q{i}" + "x" * 30), msg("assistant", f"a{i}" + "y" * 30)]
        texts = [t["text"][:2] for t in history_turns(messages, max_turns=3, token_budget=10_000)]
        assert texts == ["q2", "a2", "q3", "a3", "q4", "a4"]
        # Each exchange is ~22 estimated tokens: a budget of 50 keeps the newest two.
        texts = [t["text"][:2] for t in history_turns(messages, max_turns=10, token_budget=50)]
        assert texts == ["q3", "a3", "q4", "a4"]
        assert history_turns(messages, max_turns=0, token_budget=10_000) == []


class TestTurnRequestBuild:
    def test_accepts_the_spa_frame_values(self):
        built = request(conversation_id="11_1732600000000", idempotency_key="0b7c-uuid")
        assert (built.conversation_id, built.idempotency_key) == ("11_1732600000000", "0b7c-uuid")

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"message": ""}, "message_empty"),
            ({"message": None}, "invalid"),
            ({"message": "x" * 100_001}, "message_too_long"),
            ({"engine_type": ""}, "invalid"),
            ({"conversation_id": "a#b"}, "invalid_conversation_id"),
            ({"conversation_id": 5}, "invalid_conversation_id"),
            ({"idempotency_key": "k" * 129}, "invalid_idempotency_key"),
        ],
    )
    def test_refuses_bad_values_with_a_code(self, fields, code):
        with pytest.raises(ValidationFailed) as caught:
            request(**fields)
        assert caught.value.code == code


def test_unknown_conversation_id_is_created_under_the_user_and_the_turn_is_stored():
    engine_create()
    events = asyncio.run(run(request(conversation_id="11_42", idempotency_key="k1")))
    assert isinstance(events[0], TurnStarted) and isinstance(events[1], TurnDelta)
    end = next(e for e in events if isinstance(e, TurnEnded))
    conversation = Conversation.get("local:1", "11_42")
    assert conversation.engine_type == "11" and conversation.user_engine == "local:1#11"
    assert conversation.message_count == 2 and conversation.created_at is not None
    assert IdempotencyRecord.get("local:1#k1").status == "complete"
    assert end.status == "complete" and end.content.startswith("This is the **offline fake model**")


def test_begin_of_a_finished_key_returns_a_replay():
    engine_create()
    asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    replay = turn_begin(request=request(conversation_id="c1", idempotency_key="k1"))
    assert isinstance(replay, TurnReplay) and replay.message.role == "assistant"


def test_stale_generation_slots_of_a_crashed_worker_are_reclaimed(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER = 1
    engine_create()
    ActiveGenerations("local:1", turns={"dead-turn|1000"}).save()  # lease ran out in 1970
    events = asyncio.run(run(request(conversation_id="c1")))
    assert isinstance(events[-1], TurnEnded) or events[-1].__class__.__name__ == "TitleChanged"
    assert not ActiveGenerations.get("local:1").turns


def test_expired_conversation_lease_is_taken_over(settings):
    engine_create()
    asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    Conversation.get("local:1", "c1").update(
        actions=[Conversation.active_turn_id.set("crashed"), Conversation.active_turn_expires_at.set(utcnow())],
        add_version_condition=False,
    )
    events = asyncio.run(run(request(conversation_id="c1", idempotency_key="k2")))
    assert any(isinstance(e, TurnEnded) for e in events)


def test_dynamodb_requests_per_turn_with_a_warm_engine_cache(monkeypatch):
    """Requests are counted where every PynamoDB call passes (Connection.dispatch); none is a Scan."""
    engine_create()
    asyncio.run(run(request(conversation_id="c1", idempotency_key="warm-up")))  # warms the engine cache

    operations: list[str] = []
    before_model: list[str] = []
    original_dispatch, original_stream = Connection.dispatch, FakeModel.stream

    def counting_dispatch(self, operation_name, operation_kwargs):
        operations.append(operation_name)
        return original_dispatch(self, operation_name, operation_kwargs)

    def snapshot_stream(self, model_request):
        before_model.extend(operations)
        return original_stream(self, model_request)

    monkeypatch.setattr(Connection, "dispatch", counting_dispatch)
    monkeypatch.setattr(FakeModel, "stream", snapshot_stream)
    asyncio.run(run(request(conversation_id="c1", idempotency_key="measured")))

    print("before the model call:", before_model)
    print("whole turn:", operations)
    assert "Scan" not in operations
    # This module's own requests before the first token: one transaction (claims + user message) and one Query.
    own_before = [op for op in before_model if op in ("TransactWriteItems", "Query")]
    assert own_before[:2] == ["TransactWriteItems", "Query"]
    # The usage app's reservation (quota_reserve) adds its own reads and one transaction.
    assert len(before_model) <= 5
    # After the stream: the usage app's settlement and this module's closing transaction.
    assert operations[len(before_model) :] == ["TransactWriteItems", "TransactWriteItems"]
