"""Recovering the turn of a dead worker, on the next touch of its conversation (a send, a resume, a REST read).

A turn is alive while its lease (``CHAT_TURN_LEASE_SECONDS``) runs: the conversation's, taken at the begin, or
the one each checkpoint of its answer renews (``Message.checkpointed_at``). A turn whose lease ran out is finished
here in one
transaction: its answer stored ``interrupted`` with the last checkpointed text, the conversation's lease and the
user's generation slot released, the idempotency record finished, and the reservation settled as estimated (or
given back if nothing was written). No sweeper process is needed; each condition makes the recovery happen once.
"""

import logging
from datetime import timedelta

from django.conf import settings
from pynamodb.exceptions import TransactWriteError

from config.bedrock.client import StreamUsage
from config.bedrock.tokens import tokens_estimate
from config.clock import utcnow
from config.dynamodb.transactions import TxPart, TxScope, transact
from conversations.ids import idempotency_record_key, message_key
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.selectors import ConversationWithMessages, conversation_detail_get
from conversations.services.turn_checkpoints import reservation_load
from conversations.services.turn_events import TurnEnded
from conversations.services.turn_parts import answer_id
from usage.services import ReservationRelease, usage_settlement_build

logger = logging.getLogger(__name__)

_RECOVERY_ATTEMPTS = 4
INTERRUPTED = "interrupted"


class _AlreadyFinished(Exception):
    pass


class TurnInterrupted:
    """The dead turn's answer, conversation lease, idempotency record and slot, all on condition it is still the
    conversation's turn with its lease run out and its record still running."""

    def __init__(self, *, conversation: Conversation, answer: Message, question: Message | None) -> None:
        self.conversation = conversation
        self.answer = answer
        self.question = question
        self.usage = StreamUsage()
        self.usage_estimated = False
        self.cost_usd: float | None = None
        self.price_version: str | None = None

    @property
    def idempotency_key(self) -> str:
        return self.answer.idempotency_key or (self.question.idempotency_key if self.question else None) or ""

    def add_to(self, tx: TxScope) -> None:
        conversation, answer, now = self.conversation, self.answer, utcnow()
        head = Conversation(conversation.user_id, conversation.conversation_id)
        head.version = 0
        tx.update(
            "conversation",
            head,
            actions=[
                Conversation.active_turn_id.remove(),
                Conversation.active_turn_expires_at.remove(),
                Conversation.updated_at.set(now),
                Conversation.message_count.add(1),
            ],
            condition=(Conversation.active_turn_id == conversation.active_turn_id)
            & (Conversation.active_turn_expires_at < now),
        )
        # No checkpoint since it was read: the heartbeat really stopped.
        beat = answer.checkpointed_at
        unchanged = Message.checkpointed_at == beat if beat is not None else Message.checkpointed_at.does_not_exist()
        usage = self.usage
        tx.put(
            "answer",
            Message(
                answer.conversation_key,
                answer.message_id,
                role="assistant",
                content=answer.content or "",
                created_at=answer.created_at,
                status=INTERRUPTED,
                turn_id=answer.turn_id,
                idempotency_key=answer.idempotency_key,
                engine_type=answer.engine_type,
                model_id=answer.model_id,
                prompt_revision=answer.prompt_revision,
                stop_reason="interrupted",
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=0,
                cache_write_tokens=0,
                usage_estimated=self.usage_estimated,
                cost_usd=self.cost_usd,
                price_version=self.price_version,
                expires_at=answer.expires_at,
            ),
            condition=unchanged,
        )
        if self.idempotency_key:
            tx.update(
                "idempotency",
                IdempotencyRecord(idempotency_record_key(conversation.user_id, self.idempotency_key)),
                actions=[
                    IdempotencyRecord.status.set(INTERRUPTED),
                    IdempotencyRecord.assistant_message_id.set(answer.message_id),
                    IdempotencyRecord.result.set({"status": INTERRUPTED, "stopReason": "interrupted"}),
                ],
                condition=IdempotencyRecord.status == "running",
            )
        slot = (answer.recovery or {}).get("slot")
        if slot:
            tx.update(
                "slots", ActiveGenerations(conversation.user_id), actions=[ActiveGenerations.turns.delete({slot})]
            )

    def on_cancelled(self, failed: set[str]) -> bool:
        raise _AlreadyFinished  # another process recovered or finished it first


def _settlement(part: TurnInterrupted) -> TxPart | None:
    """Usage as the stored text suggests (estimated), or the reservation given back when nothing was written."""
    recovery = part.answer.recovery or {}
    reservation = reservation_load(recovery.get("reservation"))
    if reservation is None:
        return None
    content = part.answer.content or ""
    if not content:
        return ReservationRelease(reservation=reservation)
    part.usage = StreamUsage(
        input_tokens=int(recovery.get("inputEstimate") or 0), output_tokens=tokens_estimate(content)
    )
    part.usage_estimated = True
    settlement = usage_settlement_build(
        reservation=reservation, model_id=part.answer.model_id or "", usage=part.usage, estimated=True, kind="chat"
    )
    part.cost_usd, part.price_version = settlement.charge.cost_usd, settlement.charge.price_version
    return settlement


def _message(key: str, message_id: str) -> Message | None:
    try:
        return Message.get(key, message_id, consistent_read=True)
    except Message.DoesNotExist:
        return None


def lease_expired(conversation: Conversation) -> bool:
    """The conversation has a turn whose begin lease ran out: it is dead unless its checkpoints renewed it."""
    expires = conversation.active_turn_expires_at
    return conversation.active_turn_id is not None and (expires is None or expires < utcnow())


def _beating(answer: Message | None) -> bool:
    beat = answer.checkpointed_at if answer is not None else None
    return beat is not None and beat + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS) > utcnow()


def turn_running(*, conversation: Conversation) -> bool:
    """The conversation has a live turn (on whichever process); reads its answer only past the begin lease."""
    if conversation.active_turn_id is None:
        return False
    if not lease_expired(conversation):
        return True
    key = message_key(conversation.user_id, conversation.conversation_id)
    return _beating(_message(key, answer_id(conversation.active_turn_id)))


def turn_recover(*, user_id: str, conversation_id: str, conversation: Conversation | None = None) -> TurnEnded | None:
    """Finish the conversation's turn if its worker died (lease run out); returns its end, or None if nothing
    needed recovering. ``conversation`` saves the read when the caller has just read it."""
    if conversation is None:
        try:
            conversation = Conversation.get(user_id, conversation_id, consistent_read=True)
        except Conversation.DoesNotExist:
            return None
    if not lease_expired(conversation):
        return None
    turn_id = conversation.active_turn_id
    key = message_key(user_id, conversation_id)
    question = _message(key, turn_id)
    answer = _message(key, answer_id(turn_id))
    if _beating(answer):
        return None  # alive: its checkpoints renew its lease
    answer = answer or Message(
        key, answer_id(turn_id), role="assistant", content="", created_at=utcnow(), turn_id=turn_id
    )
    part = TurnInterrupted(conversation=conversation, answer=answer, question=question)
    parts: list[TxPart] = [part]
    settlement = _settlement(part)
    if settlement is not None:
        parts.append(settlement)
    try:
        transact(parts, attempts=_RECOVERY_ATTEMPTS, busy_error=RuntimeError(f"turn {turn_id} could not be recovered"))
    except (_AlreadyFinished, TransactWriteError):
        return None
    logger.warning("recovered the interrupted turn %s of conversation %s", turn_id, conversation_id)
    return TurnEnded(
        conversation_id=conversation_id,
        engine_type=answer.engine_type or conversation.engine_type,
        user_message_id=turn_id,
        assistant_message_id=answer.message_id,
        model_id=answer.model_id or "",
        status=INTERRUPTED,
        stop_reason="interrupted",
        content=answer.content or "",
        chunks=0,
        usage=part.usage,
        usage_estimated=part.usage_estimated,
        cost_usd=part.cost_usd,
    )


def conversation_detail_recovered(
    *, user_id: str, conversation_id: str, messages_limit: int, messages_cursor: str | None = None
) -> ConversationWithMessages:
    """``conversation_detail_get``, with the conversation's dead turn recovered first (a REST read is a touch)."""
    detail = conversation_detail_get(
        user_id=user_id, conversation_id=conversation_id, messages_limit=messages_limit, messages_cursor=messages_cursor
    )
    conversation = detail.conversation
    if lease_expired(conversation) and turn_recover(
        user_id=user_id, conversation_id=conversation_id, conversation=conversation
    ):
        detail = conversation_detail_get(
            user_id=user_id,
            conversation_id=conversation_id,
            messages_limit=messages_limit,
            messages_cursor=messages_cursor,
        )
    return detail
