"""A whole chat turn: events, what is stored, the DynamoDB requests it costs, stopping and cancelling it."""

import asyncio
import threading

import pytest
from pynamodb.connection.base import Connection

from config.aio import run_io
from config.bedrock.fake import FakeModel
from config.clock import utcnow
from config.errors import QuotaExceeded
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.services import TitleChanged, TurnDelta, TurnEnded, TurnRequest, TurnRun, TurnStarted
from conversations.services import turn_run as turn_run_module
from tests.bedrock_frames import answer
from usage.models import MonthlyUsage, UsageReservation
from usage.plans import month_key

pytestmark = pytest.mark.usefixtures("engine")


def request(**fields):
    values = {"user_id": "local:1", "is_staff": False, "engine_type": "11", "message": "Hello?"}
    values.update(fields)
    return TurnRequest(**values)


async def run(turn: TurnRun | TurnRequest) -> list:
    events = []

    async def emit(event):
        events.append(event)

    await (turn if isinstance(turn, TurnRun) else TurnRun(turn)).run(emit)
    return events


def stored(conversation_id="c1") -> list[Message]:
    return list(Message.query(f"local:1#{conversation_id}"))


def test_unknown_conversation_id_is_created_under_the_user_and_the_turn_is_stored():
    events = asyncio.run(run(request(conversation_id="11_42", idempotency_key="k1")))
    assert isinstance(events[0], TurnStarted) and isinstance(events[1], TurnDelta)
    end = next(e for e in events if isinstance(e, TurnEnded))
    conversation = Conversation.get("local:1", "11_42")
    assert conversation.engine_type == "11" and conversation.user_engine == "local:1#11"
    assert conversation.message_count == 2 and conversation.created_at is not None
    assert IdempotencyRecord.get("local:1#k1").status == "complete"
    assert end.status == "complete" and end.content.startswith("This is the **offline fake model**")
    assert end.chunks == sum(isinstance(e, TurnDelta) for e in events)


def test_a_resend_of_a_finished_message_is_replayed_from_what_was_stored():
    first = asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    replay = asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    end = next(e for e in first if isinstance(e, TurnEnded))
    assert [type(e) for e in replay] == [TurnStarted, TurnDelta, TurnEnded]
    assert replay[1].text == end.content and replay[2].replayed and replay[2].cost_usd == end.cost_usd
    tokens = [(e.usage.input_tokens, e.usage.output_tokens) for e in (replay[2], end)]
    assert tokens[0] == tokens[1]
    assert len(stored()) == 2


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
    asyncio.run(run(request(conversation_id="c1", idempotency_key="warm-up")))  # warms the engine and plan caches
    operations, before_model = dynamodb_requests
    operations.clear()

    events = asyncio.run(run(request(conversation_id="c1", idempotency_key="measured")))

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
    asyncio.run(run(request(conversation_id="other", idempotency_key="warm-up")))  # warms the engine and plan caches
    operations, before_model = dynamodb_requests
    operations.clear()

    events = asyncio.run(run(request(conversation_id=conversation_id)))

    assert isinstance(events[-1], TitleChanged)
    assert before_model == [*history_reads, "TransactWriteItems"]
    # Finish; then the title: its reservation, its settlement, the conditional title update.
    assert operations[len(before_model) :] == ["TransactWriteItems"] * 3 + ["UpdateItem"]


def test_quota_refusal_stores_the_turn_with_the_error_and_calls_no_model(settings, dynamodb_requests):
    settings.USAGE_PLAN_LIMITS = {**settings.USAGE_PLAN_LIMITS, settings.USAGE_DEFAULT_PLAN: 50}
    _operations, before_model = dynamodb_requests
    with pytest.raises(QuotaExceeded) as refused:
        asyncio.run(run(request(conversation_id="c1", idempotency_key="k1")))
    assert before_model == []  # the model was never called
    assert refused.value.extra["conversationId"] == "c1" and refused.value.extra["messageId"]
    assert [(m.role, m.status, m.error_code) for m in stored()] == [
        ("user", "complete", None),
        ("assistant", "error", "quota_exceeded"),
    ]
    assert not list(UsageReservation.open_by_user.query("local:1"))
    assert not ActiveGenerations.get("local:1").turns
    assert Conversation.get("local:1", "c1").active_turn_id is None


def test_a_stop_before_the_model_answers_stores_an_empty_stopped_answer_and_gives_the_quota_back():
    turn = TurnRun(request(conversation_id="c1"))
    turn.stop()

    events = asyncio.run(run(turn))

    assert [type(e) for e in events] == [TurnStarted, TurnEnded]
    assert (events[-1].status, events[-1].content, events[-1].chunks) == ("stopped", "", 0)
    assert [(m.role, m.status, m.content) for m in stored()] == [
        ("user", "complete", "Hello?"),
        ("assistant", "stopped", ""),
    ]
    month = MonthlyUsage.get("local:1", month_key(utcnow()))
    assert (month.reserved_tokens, month.allocated_tokens, month.total_tokens) == (0, 0, 0)


def test_a_stop_while_the_model_streams_closes_the_stream_and_ends_the_turn_normally(fake_bedrock):
    raw = fake_bedrock.stream(answer("Partial ", "answer ", "never ", "finished."), hold_after=3)
    turn = TurnRun(request(conversation_id="c1"))
    events = []

    async def emit(event):
        events.append(event)
        if isinstance(event, TurnDelta):
            turn.stop()

    asyncio.run(turn.run(emit))

    assert [type(e) for e in events][:3] == [TurnStarted, TurnDelta, TurnEnded]
    end = events[2]
    assert (end.status, end.content, end.chunks, end.usage_estimated) == ("stopped", "Partial ", 1, True)
    assert raw.closed.is_set()
    assert (stored()[1].status, stored()[1].content) == ("stopped", "Partial ")


def test_cancelling_the_run_stores_the_partial_answer_and_lets_the_cancel_through(fake_bedrock):
    # Held after the first delta: frames already read go out without a pause, so the cancel lands here.
    raw = fake_bedrock.stream(answer("Half ", "an ", "answer ", "lost."), hold_after=2)

    async def cancelled_mid_stream():
        first_delta = asyncio.Event()

        async def emit(event):
            if isinstance(event, TurnDelta):
                first_delta.set()

        task = asyncio.create_task(TurnRun(request(conversation_id="c1")).run(emit))
        await first_delta.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_mid_stream())

    assert raw.closed.is_set()
    assert (stored()[1].status, stored()[1].content) == ("stopped", "Half ")
    assert Conversation.get("local:1", "c1").active_turn_id is None
    assert not ActiveGenerations.get("local:1").turns


def test_a_cancel_while_the_turn_begins_waits_for_the_begin_and_finishes_the_turn(monkeypatch):
    begun, release = threading.Event(), threading.Event()
    real_begin = turn_run_module.turn_begin

    def slow_begin(**kwargs):
        begun.set()
        release.wait(10)
        return real_begin(**kwargs)

    monkeypatch.setattr(turn_run_module, "turn_begin", slow_begin)

    async def cancelled_while_beginning():
        task = asyncio.create_task(run(request(conversation_id="c1")))
        await run_io(begun.wait, 10)
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_while_beginning())

    assert [(m.role, m.status) for m in stored()] == [("user", "complete"), ("assistant", "stopped")]
    assert Conversation.get("local:1", "c1").active_turn_id is None
    assert not ActiveGenerations.get("local:1").turns
    assert not list(UsageReservation.open_by_user.query("local:1"))
