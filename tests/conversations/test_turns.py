"""The turn use case: validation, history as turns, DynamoDB requests per turn, idempotency and claims."""

import asyncio

import pytest
from pynamodb.connection.base import Connection

from config.bedrock.fake import FakeModel
from config.clock import utcnow
from config.errors import QuotaExceeded, ValidationFailed
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.turns import (
    TitleChanged,
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
from usage.models import MonthlyUsage, UsageReservation
from usage.plans import month_key


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
            # Within the character limit but over one DynamoDB item: 4 UTF-8 bytes a character.
            ({"message": "\U0001f600" * 90_000}, "message_too_long"),
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


@pytest.fixture
def dynamodb_requests(monkeypatch):
    """Every DynamoDB request (counted where every PynamoDB call passes, Connection.dispatch), and a snapshot of
    those made before the model was called."""
    operations: list[str] = []
    before_model: list[str] = []
    original_dispatch, original_stream = Connection.dispatch, FakeModel.stream

    def counting_dispatch(self, operation_name, operation_kwargs):
        operations.append(operation_name)
        return original_dispatch(self, operation_name, operation_kwargs)

    def snapshot_stream(self, model_request):
        before_model[:] = operations
        return original_stream(self, model_request)

    monkeypatch.setattr(Connection, "dispatch", counting_dispatch)
    monkeypatch.setattr(FakeModel, "stream", snapshot_stream)
    return operations, before_model


def test_dynamodb_requests_per_turn_with_a_warm_engine_cache(dynamodb_requests):
    engine_create()
    asyncio.run(run(request(conversation_id="c1", idempotency_key="warm-up")))  # warms the engine and plan caches
    operations, before_model = dynamodb_requests
    operations.clear()

    events = asyncio.run(run(request(conversation_id="c1", idempotency_key="measured")))

    print("before the model call:", before_model)
    print("whole turn:", operations)
    assert isinstance(events[-1], TurnEnded) and events[-1].status == "complete"
    assert "Scan" not in operations
    # The history Query, then one transaction: claims, user message and the quota reservation.
    assert before_model == ["Query", "TransactWriteItems"]
    # After the stream: one transaction stores the answer, releases the claims and settles the usage.
    assert operations[len(before_model) :] == ["TransactWriteItems"]
    # Both turns were reserved and settled: counted, nothing left reserved.
    month = MonthlyUsage.get("local:1", month_key(utcnow()))
    assert (month.message_count, month.reserved_tokens) == (2, 0)
    assert month.allocated_tokens == month.total_tokens > 0


@pytest.mark.parametrize(("conversation_id", "history_reads"), [(None, []), ("11_1732600000000", ["Query"])])
def test_dynamodb_requests_of_a_first_turn_with_its_title(dynamodb_requests, conversation_id, history_reads):
    """A conversation id the server makes up is new (no history to read); one the client chose must be read."""
    engine_create()
    asyncio.run(run(request(conversation_id="other", idempotency_key="warm-up")))  # warms the engine and plan caches
    operations, before_model = dynamodb_requests
    operations.clear()

    events = asyncio.run(run(request(conversation_id=conversation_id)))

    print("before the model call:", before_model)
    print("whole turn:", operations)
    assert isinstance(events[-1], TitleChanged)
    assert before_model == [*history_reads, "TransactWriteItems"]
    # Finish; then the title: its reservation, its settlement, the conditional title update.
    assert operations[len(before_model) :] == ["TransactWriteItems"] * 3 + ["UpdateItem"]


def test_quota_refusal_stores_the_turn_with_the_error_and_calls_no_model(settings, dynamodb_requests):
    settings.USAGE_PLAN_LIMITS = {**settings.USAGE_PLAN_LIMITS, settings.USAGE_DEFAULT_PLAN: 50}
    engine_create()
    _operations, before_model = dynamodb_requests
    with pytest.raises(QuotaExceeded):
        asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    assert before_model == []  # the model was never called
    stored = list(Message.query("local:1#c1"))
    assert [(m.role, m.status, m.error_code) for m in stored] == [
        ("user", "complete", None),
        ("assistant", "error", "quota_exceeded"),
    ]
    assert not list(UsageReservation.open_by_user.query("local:1"))
    assert not ActiveGenerations.get("local:1").turns
    assert Conversation.get("local:1", "c1").active_turn_id is None
