"""Beginning a turn: the claims of its one transaction, and how each failed claim is sorted out."""

import asyncio

import pytest

from config.errors import Conflict, RateLimited
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord
from conversations.services import TurnRequest, TurnRun
from conversations.services.turn_begin import turn_begin
from conversations.services.turn_types import Turn, TurnReplay
from prompts.services import engine_type_update

pytestmark = pytest.mark.usefixtures("engine")


def request(**fields):
    values = {"user_id": "local:1", "is_staff": False, "engine_type": "11", "message": "Hello?"}
    values.update(fields)
    return TurnRequest(**values)


def finished(**fields) -> None:
    async def run():
        async def emit(_event):
            pass

        await TurnRun(request(**fields)).run(emit)

    asyncio.run(run())


def test_begin_claims_the_key_the_lease_a_slot_and_the_quota():
    turn = turn_begin(request=request(conversation_id="c1", idempotency_key="k1"))

    assert isinstance(turn, Turn) and turn.refusal is None and turn.reservation is not None
    assert turn.assistant_message_id > turn.user_message_id == turn.turn_id
    assert IdempotencyRecord.get("local:1#k1").status == "running"
    conversation = Conversation.get("local:1", "c1")
    assert (conversation.active_turn_id, conversation.title, conversation.title_source) == (
        turn.turn_id,
        "Hello?",
        "message",
    )
    assert ActiveGenerations.get("local:1").turns == {turn.slot}
    assert turn.model_request.max_tokens == turn.reservation.max_output_tokens


def test_begin_of_a_finished_key_returns_a_replay():
    finished(conversation_id="c1", idempotency_key="k1")
    replay = turn_begin(request=request(conversation_id="c1", idempotency_key="k1"))
    assert isinstance(replay, TurnReplay) and replay.message.role == "assistant"


def test_a_key_used_in_another_conversation_is_refused():
    finished(conversation_id="c1", idempotency_key="k1")
    with pytest.raises(Conflict) as refused:
        turn_begin(request=request(conversation_id="c2", idempotency_key="k1"))
    assert refused.value.code == "idempotency_key_reused"


def test_a_second_turn_in_a_generating_conversation_is_refused():
    turn_begin(request=request(conversation_id="c1", idempotency_key="k1"))
    with pytest.raises(Conflict) as refused:
        turn_begin(request=request(conversation_id="c1", idempotency_key="k2"))
    assert (refused.value.code, refused.value.retryable) == ("generation_in_progress", True)


def test_stale_generation_slots_of_a_crashed_worker_are_reclaimed(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER = 1
    ActiveGenerations("local:1", turns={"dead-turn|1000"}).save()  # lease ran out in 1970
    turn = turn_begin(request=request(conversation_id="c1"))
    assert ActiveGenerations.get("local:1").turns == {turn.slot}


def test_a_user_with_all_slots_taken_is_refused(settings):
    settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER = 1
    turn_begin(request=request(conversation_id="c1"))
    with pytest.raises(RateLimited) as refused:
        turn_begin(request=request(conversation_id="c2"))
    assert refused.value.code == "too_many_generations"


def test_a_dead_turns_conversation_is_recovered_then_taken_over(frozen_time, settings):
    finished(conversation_id="c1", idempotency_key="k1")
    dead = turn_begin(request=request(conversation_id="c1", idempotency_key="k2"))  # its worker then dies
    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS + 1)

    turn = turn_begin(request=request(conversation_id="c1", idempotency_key="k3"))

    assert Conversation.get("local:1", "c1").active_turn_id == turn.turn_id
    assert turn.model_request.messages[0] == {"role": "user", "text": "Hello?"}  # the first exchange is history
    assert IdempotencyRecord.get("local:1#k2").status == "interrupted"
    assert dead.slot not in ActiveGenerations.get("local:1").turns


def test_an_engine_type_changed_since_this_process_saw_it_is_read_again():
    seen = turn_begin(request=request(conversation_id="c1")).config  # what this process knows now
    updated = engine_type_update(engine_type="11", instruction="Answer in haiku.")

    turn = turn_begin(request=request(conversation_id="c2"))

    assert turn.config.revision == updated.revision != seen.revision
    assert "Answer in haiku." in turn.model_request.system_text
