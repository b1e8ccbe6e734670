"""A streaming answer's item in DynamoDB: put at the begin, checkpointed while it streams, so a crash keeps it.

``AnswerPlaceholder`` (a part of the begin transaction, no extra request) stores the answer as ``streaming`` with
what recovering its turn needs (``Message.recovery``). ``turn_checkpoint`` writes the text so far to that item at
least every ``CHAT_CHECKPOINT_SECONDS``; the same write renews the turn's lease (its ``checkpointed_at``).
"""

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from config.clock import utcnow
from config.dynamodb.transactions import TxScope, condition_failed
from conversations.ids import message_key
from conversations.models import Conversation, Message
from conversations.services.retention import turn_expiry
from conversations.services.turn_parts import GenerationSlot, TurnClaims, TurnQuota, answer_id, lease_end
from conversations.services.turn_types import Turn
from usage.services import Reservation

logger = logging.getLogger(__name__)


def reservation_dump(reservation: Reservation | None) -> dict[str, Any] | None:
    if reservation is None:
        return None
    return {**asdict(reservation), "created_at": reservation.created_at.isoformat()}


def reservation_load(data: dict[str, Any] | None) -> Reservation | None:
    if not data:
        return None
    return Reservation(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


class AnswerPlaceholder:
    """The answer's item, ``streaming`` and empty, holding the turn's slot entry, reservation and input estimate."""

    def __init__(self, *, claims: TurnClaims, slot: GenerationSlot, quota: TurnQuota) -> None:
        self.claims = claims
        self.slot = slot
        self.quota = quota

    def add_to(self, tx: TxScope) -> None:
        claims, request, now = self.claims, self.claims.request, utcnow()
        config = claims.engine.config
        tx.put(
            "answer",
            Message(
                message_key(request.user_id, claims.conversation_id),
                answer_id(claims.turn_id),
                role="assistant",
                content="",
                created_at=now,
                status="streaming",
                checkpointed_at=now,
                turn_id=claims.turn_id,
                idempotency_key=claims.idempotency_key,
                engine_type=request.engine_type,
                model_id=config.model_id,
                prompt_revision=config.revision,
                expires_at=turn_expiry(retention_days=config.retention_days, now=now),
                recovery={
                    "slot": self.slot.entry,
                    "reservation": reservation_dump(self.quota.reservation),
                    "inputEstimate": self.quota.input_estimate,
                },
            ),
        )

    def on_cancelled(self, failed: set[str]) -> bool:
        return False


def turn_checkpoint(*, turn: Turn, content: str) -> bool:
    """Store the answer's text so far; its ``checkpointed_at`` is the turn's heartbeat (``turn_recovery`` counts
    the turn alive for a lease after it). One conditional UpdateItem; False once the turn was recovered as dead."""
    answer = Message(message_key(turn.request.user_id, turn.conversation_id), turn.assistant_message_id)
    try:
        answer.update(
            actions=[Message.content.set(content), Message.checkpointed_at.set(utcnow())],
            condition=Message.status == "streaming",
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        logger.warning("turn %s was recovered as dead while it streamed", turn.turn_id)
        return False
    return True


def turn_lease_renew(*, turn: Turn) -> bool:
    """Renew the conversation's lease on the turn (what other writes to the conversation, such as clearing its
    history, respect); one conditional UpdateItem, False once the turn no longer holds the conversation."""
    conversation = Conversation(turn.request.user_id, turn.conversation_id)
    conversation.version = 0  # ADD 1 to the stored version, as every turn write does
    try:
        conversation.update(
            actions=[Conversation.active_turn_expires_at.set(lease_end(utcnow()))],
            condition=Conversation.active_turn_id == turn.turn_id,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True
