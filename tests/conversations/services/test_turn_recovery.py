"""Recovering a dead worker's turn on the next touch: answer ``interrupted`` with its last checkpoint, lease, slot
and idempotency record released, reservation settled as estimated; a live turn (checkpointing) is left alone."""

from datetime import timedelta

import pytest

from config.errors import Conflict
from conversations.ids import message_key
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.services import conversation_detail_recovered, conversation_history_clear
from conversations.services.turn_begin import turn_begin
from conversations.services.turn_checkpoints import turn_checkpoint, turn_lease_renew
from conversations.services.turn_finish import turn_finish
from conversations.services.turn_recovery import turn_recover, turn_running
from conversations.services.turn_types import TurnOutcome, TurnReplay, TurnRequest
from usage.models import MonthlyUsage, UsageReservation

pytestmark = pytest.mark.usefixtures("engine", "plan_limits")

USER = "local:1"


def begun(key: str = "k1", conversation_id: str = "c1"):
    request = TurnRequest(
        user_id=USER,
        is_staff=False,
        engine_type="11",
        message="Hello?",
        conversation_id=conversation_id,
        idempotency_key=key,
    )
    return turn_begin(request=request)


def answer_of(turn) -> Message:
    return Message.get(message_key(USER, turn.conversation_id), turn.assistant_message_id)


def test_the_begin_stores_the_answer_as_streaming_with_what_recovery_needs():
    turn = begun()
    answer = answer_of(turn)
    assert (answer.status, answer.content, answer.role) == ("streaming", "", "assistant")
    assert answer.recovery["slot"] == turn.slot
    assert answer.recovery["reservation"]["reservation_id"] == turn.reservation.reservation_id
    assert answer.recovery["inputEstimate"] == turn.input_estimate


def test_a_checkpoint_stores_the_partial_text_and_renews_the_lease(frozen_time, settings):
    turn = begun()
    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS - 1)
    assert turn_checkpoint(turn=turn, content="Half an")
    frozen_time.shift(2)  # past the begin lease, within the checkpoint's

    conversation = Conversation.get(USER, "c1")
    assert answer_of(turn).content == "Half an"
    assert turn_running(conversation=conversation)
    assert turn_recover(user_id=USER, conversation_id="c1") is None
    with pytest.raises(Conflict) as refused:
        begun(key="k2")
    assert refused.value.code == "generation_in_progress"


def test_a_dead_turn_is_recovered_on_a_rest_read_from_its_last_checkpoint(frozen_time, settings):
    turn = begun()
    assert turn_checkpoint(turn=turn, content="Bonds are")
    frozen_time.shift(timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS + 1))  # the worker died: no more beats

    detail = conversation_detail_recovered(user_id=USER, conversation_id="c1", messages_limit=10)

    question, answer = detail.messages
    assert (question.role, answer.status, answer.content) == ("user", "interrupted", "Bonds are")
    assert answer.usage_estimated is True and answer.output_tokens > 0 and answer.cost_usd is not None
    assert answer.recovery is None
    assert detail.conversation.active_turn_id is None and detail.conversation.message_count == 2
    assert turn.slot not in (ActiveGenerations.get(USER).turns or set())
    assert IdempotencyRecord.get(f"{USER}#k1").status == "interrupted"
    reservation = UsageReservation.get(turn.reservation.reservation_id)
    assert reservation.status == "settled"
    month = MonthlyUsage.get(USER, reservation.month)
    assert month.reserved_tokens == 0 and month.estimated_count == 1
    assert turn_recover(user_id=USER, conversation_id="c1") is None  # once


def test_a_dead_turn_with_no_text_gives_its_reservation_back(frozen_time, settings):
    turn = begun()
    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS + 1)

    ended = turn_recover(user_id=USER, conversation_id="c1")

    assert ended.status == "interrupted" and ended.content == ""
    assert UsageReservation.get(turn.reservation.reservation_id).status == "released"
    assert answer_of(turn).status == "interrupted"


def test_a_resend_of_a_dead_turns_message_is_answered_with_what_was_kept(frozen_time, settings):
    turn = begun()
    turn_checkpoint(turn=turn, content="Kept text")
    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS + 1)

    replay = begun(key="k1")

    assert isinstance(replay, TurnReplay)
    assert replay.record.status == "interrupted" and replay.message.content == "Kept text"
    assert len(list(Message.query(message_key(USER, "c1")))) == 2  # nothing stored twice


def test_a_finish_repeated_after_it_committed_stores_nothing_twice():
    # What a retry sees when the first attempt committed but its response was lost (or the turn was recovered).
    turn = begun()
    outcome = TurnOutcome(status="complete", content="Once.")
    turn_finish(turn=turn, outcome=outcome)
    month_before = MonthlyUsage.get(USER, turn.reservation.month)

    turn_finish(turn=turn, outcome=outcome)

    conversation = Conversation.get(USER, "c1")
    assert conversation.message_count == 2 and conversation.active_turn_id is None
    assert answer_of(turn).content == "Once."
    month = MonthlyUsage.get(USER, turn.reservation.month)
    assert (month.total_tokens, month.message_count) == (month_before.total_tokens, month_before.message_count)


def test_renewing_the_conversations_lease_keeps_history_clearing_out_and_stops_once_recovered(frozen_time, settings):
    turn = begun()
    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS - 1)
    assert turn_lease_renew(turn=turn)
    frozen_time.shift(2)

    with pytest.raises(Conflict) as refused:
        conversation_history_clear(user_id=USER, conversation_id="c1")
    assert refused.value.code == "generation_in_progress"
    assert Conversation.get(USER, "c1").version == 2  # counted up, never reset

    frozen_time.shift(settings.CHAT_TURN_LEASE_SECONDS + 1)
    assert turn_recover(user_id=USER, conversation_id="c1") is not None
    assert not turn_lease_renew(turn=turn)
