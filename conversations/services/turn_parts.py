"""The chat turn's own parts of its two transactions (``config.dynamodb.transactions``).

Begin: ``TurnClaims`` (idempotency key, user message, conversation lease), ``GenerationSlot`` (the per-user cap)
and ``TurnQuota`` (the quota reservation, sized by the model request), with the engine type's ``EngineTypeCurrent``.
Finish: ``AnswerRecord`` (the answer, the counters, the lease, slot and key released), with the usage settlement.
"""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy
from pynamodb.expressions.condition import size

from config.bedrock.client import StreamUsage
from config.clock import utcnow
from config.dynamodb.transactions import TxScope
from config.errors import ApplicationError, Conflict, RateLimited
from conversations.ids import idempotency_record_key, message_key, user_engine_key
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from conversations.selectors import generation_slots_get
from conversations.services.model_request import model_request_build
from conversations.services.retention import turn_expiry
from conversations.services.titles import title_fallback
from conversations.services.turn_types import Turn, TurnOutcome, TurnRequest
from prompts.services import EngineTypeCurrent
from usage.services import QuotaClaim, Reservation

logger = logging.getLogger(__name__)


def lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)


def expiry_actions(attribute: Any, expires_at: datetime | None) -> list:
    """The retention TTL of an updated item: set, or removed for an engine type that keeps items forever."""
    return [attribute.set(expires_at) if expires_at is not None else attribute.remove()]


class TurnKeyUsed(Exception):
    """The send's idempotency key is already claimed: this message was sent before."""


class TurnAlreadyFinished(Exception):
    """The turn's idempotency record is no longer running: its answer was stored already (a retried finish whose
    first attempt committed, or a recovery after its lease ran out). Nothing is written twice."""


class TurnClaims:
    """The idempotency key, the user message, and the conversation (created if unknown) with its one-generation
    lease. A taken key raises ``TurnKeyUsed``. A conversation held by another turn is recovered first if that
    turn's lease ran out (its worker died: ``turn_recovery``), else the send is refused ``generation_in_progress``.
    """

    def __init__(
        self,
        *,
        request: TurnRequest,
        conversation_id: str,
        turn_id: str,
        engine: EngineTypeCurrent,
        recover: Callable[[], bool],
    ) -> None:
        self.request = request
        self.recover = recover  # recovers the conversation's dead turn, if its lease ran out; True if it did
        self.conversation_id = conversation_id
        self.turn_id = turn_id
        self.engine = engine
        self.idempotency_key = request.idempotency_key or turn_id

    def add_to(self, tx: TxScope) -> None:
        request, user_id, now = self.request, self.request.user_id, utcnow()
        conversation = Conversation(user_id, self.conversation_id)
        conversation.version = 0  # makes PynamoDB ADD 1 to the stored version instead of resetting it to 1
        expires_at = turn_expiry(retention_days=self.engine.config.retention_days, now=now)
        tx.put(
            "idempotency",
            IdempotencyRecord(
                idempotency_record_key(user_id, self.idempotency_key),
                conversation_id=self.conversation_id,
                status="running",
                turn_id=self.turn_id,
                user_message_id=self.turn_id,
                assistant_message_id=answer_id(self.turn_id),
                created_at=now,
                expires_at=now + timedelta(seconds=settings.CHAT_IDEMPOTENCY_TTL_SECONDS),
            ),
            condition=IdempotencyRecord.key.does_not_exist(),
        )
        tx.put(
            "message",
            Message(
                message_key(user_id, self.conversation_id),
                self.turn_id,
                role="user",
                content=request.message,
                created_at=now,
                status="complete",
                turn_id=self.turn_id,
                idempotency_key=self.idempotency_key,
                engine_type=request.engine_type,
                expires_at=expires_at,
            ),
        )
        tx.update(
            "conversation",
            conversation,
            actions=[
                # An unknown id creates the conversation; it is keyed by the owner, so it can never be another's.
                Conversation.engine_type.set(Conversation.engine_type | request.engine_type),
                Conversation.user_engine.set(Conversation.user_engine | user_engine_key(user_id, request.engine_type)),
                Conversation.created_at.set(Conversation.created_at | now),
                Conversation.title.set(Conversation.title | title_fallback(request.message)),
                Conversation.title_source.set(Conversation.title_source | "message"),
                Conversation.updated_at.set(now),
                Conversation.message_count.add(1),
                Conversation.active_turn_id.set(self.turn_id),
                Conversation.active_turn_expires_at.set(lease_end(now)),
                *expiry_actions(Conversation.expires_at, expires_at),
            ],
            condition=Conversation.active_turn_id.does_not_exist(),
        )

    def on_cancelled(self, failed: set[str]) -> bool:
        if "idempotency" in failed:
            raise TurnKeyUsed
        if "conversation" in failed:
            if self.recover():
                return True
            raise Conflict(
                gettext_lazy("An answer is still being generated in this conversation; wait for it or stop it."),
                code="generation_in_progress",
                retryable=True,
            )
        return False


def answer_id(user_message_id: str) -> str:
    """The answer's id sorts right after its question's (a fresh id could sort before it within one millisecond)."""
    millis, _, rest = user_message_id.partition("-")
    return f"{int(millis) + 1:0{len(millis)}d}-{rest}"


class GenerationSlot:
    """One of the user's ``CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER`` slots, shared by every server process.

    ``entry`` is ``"<turn_id>|<lease end, epoch seconds>"``. When all slots are taken, those of dead workers
    (lease run out) are dropped and the turn tries again; else it is refused with ``too_many_generations``.
    """

    def __init__(self, *, user_id: str, turn_id: str) -> None:
        self.user_id = user_id
        self.turn_id = turn_id
        self.now = utcnow()
        self.entry = ""

    def add_to(self, tx: TxScope) -> None:
        self.now = utcnow()
        # A live turn does not renew its slot (a set cannot drop and add in one write): the entry outlasts any turn,
        # and a dead worker's slot is freed by recovering its turn (turn_recovery), this bound being the backstop.
        held_until = self.now + timedelta(seconds=max(settings.CHAT_TURN_MAX_SECONDS, settings.CHAT_TURN_LEASE_SECONDS))
        self.entry = f"{self.turn_id}|{int(held_until.timestamp())}"
        tx.update(
            "slots",
            ActiveGenerations(self.user_id),
            actions=[ActiveGenerations.turns.add({self.entry})],
            condition=ActiveGenerations.turns.does_not_exist()
            | (size(ActiveGenerations.turns) < settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER),
        )

    def on_cancelled(self, failed: set[str]) -> bool:
        if not self._stale_dropped():
            raise RateLimited(
                gettext_lazy("You already have %(n)d answers being generated; wait for one to finish.")
                % {"n": settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER},
                code="too_many_generations",
            )
        return True

    def _stale_dropped(self) -> bool:
        slots = generation_slots_get(user_id=self.user_id)
        if slots is None:
            return True
        stale = {entry for entry in slots.turns or set() if int(entry.rsplit("|", 1)[1]) < self.now.timestamp()}
        if not stale:
            return False
        slots.update(actions=[ActiveGenerations.turns.delete(stale)])
        logger.warning("released %d stale generation slot(s) of user %s", len(stale), self.user_id)
        return True


class TurnQuota:
    """The turn's quota reservation, sized by its model request as the engine type is known at each attempt.

    A refusal (``quota_exceeded``, ``quota_busy``) is not raised: it becomes the turn's answer (``refusal``), the
    turn is stored without a reservation and no model is called. ``model_request`` is clamped to what was granted.
    """

    def __init__(self, *, request: TurnRequest, engine: EngineTypeCurrent, history: list[Message]) -> None:
        self.request = request
        self.engine = engine
        self.history = history
        self._size()
        self.claim: QuotaClaim | None = QuotaClaim(
            user_id=request.user_id,
            engine_type=request.engine_type,
            is_staff=request.is_staff,
            estimated_input_tokens=self.input_estimate,
            max_output_tokens=engine.config.max_tokens,
        )
        self.refusal: ApplicationError | None = None

    def _size(self) -> None:
        self.model_request, self.input_estimate = model_request_build(
            message=self.request.message, config=self.engine.config, history=self.history
        )

    @property
    def reservation(self) -> Reservation | None:
        return self.claim.reservation if self.claim is not None else None

    def add_to(self, tx: TxScope) -> None:
        self._size()
        if self.claim is None:
            return
        self.claim.estimated_input_tokens = self.input_estimate
        self.claim.max_output_tokens = self.engine.config.max_tokens
        try:
            self.claim.add_to(tx)
        except ApplicationError as refused:
            self.claim, self.refusal = None, refused
            return
        self.model_request = replace(self.model_request, max_tokens=self.claim.reservation.max_output_tokens)

    def on_cancelled(self, failed: set[str]) -> bool:
        try:
            return self.claim.on_cancelled(failed)
        except ApplicationError as refused:
            self.claim, self.refusal = None, refused
            return True


class AnswerRecord:
    """The answer (only what the model wrote: an error is recorded in status/error_code), the conversation's
    counters and released lease, the idempotency key's result, the released generation slot.

    If the turn outlived its lease and another turn holds the conversation now, the answer is stored anyway and
    that turn's lease left alone.
    """

    def __init__(self, *, turn: Turn, outcome: TurnOutcome) -> None:
        self.turn = turn
        self.outcome = outcome
        self.release_lease = True

    def add_to(self, tx: TxScope) -> None:
        turn, outcome, request, now = self.turn, self.outcome, self.turn.request, utcnow()
        usage, error = outcome.usage or StreamUsage(), outcome.error
        conversation = Conversation(request.user_id, turn.conversation_id)
        conversation.version = 0
        expires_at = turn_expiry(retention_days=turn.config.retention_days, now=now)
        conversation_actions = [
            Conversation.updated_at.set(now),
            Conversation.message_count.add(1),
            *expiry_actions(Conversation.expires_at, expires_at),
        ]
        condition = None
        if self.release_lease:
            conversation_actions += [Conversation.active_turn_id.remove(), Conversation.active_turn_expires_at.remove()]
            condition = Conversation.active_turn_id == turn.turn_id
        result: dict[str, Any] = {"status": outcome.status, "stopReason": outcome.stop_reason}
        if error is not None:
            result["error"] = {"code": error.code, "message": str(error.message), "retryable": error.retryable}
        tx.put(
            "message",
            Message(
                message_key(request.user_id, turn.conversation_id),
                turn.assistant_message_id,
                role="assistant",
                content=outcome.content,
                created_at=now,
                status=outcome.status,
                turn_id=turn.turn_id,
                idempotency_key=turn.idempotency_key,
                engine_type=request.engine_type,
                model_id=turn.config.model_id,
                prompt_revision=turn.config.revision,
                stop_reason=outcome.stop_reason,
                error_code=error.code if error is not None else None,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                usage_estimated=outcome.usage_estimated,
                cost_usd=outcome.cost_usd,
                price_version=outcome.price_version,
                latency_ms=usage.latency_ms,
                expires_at=expires_at,
            ),
        )
        tx.update("conversation", conversation, actions=conversation_actions, condition=condition)
        tx.update(
            "idempotency",
            IdempotencyRecord(idempotency_record_key(request.user_id, turn.idempotency_key)),
            actions=[
                IdempotencyRecord.status.set(outcome.status),
                IdempotencyRecord.assistant_message_id.set(turn.assistant_message_id),
                IdempotencyRecord.result.set(result),
            ],
            condition=IdempotencyRecord.status == "running",
        )
        tx.update("slots", ActiveGenerations(request.user_id), actions=[ActiveGenerations.turns.delete({turn.slot})])

    def on_cancelled(self, failed: set[str]) -> bool:
        if "idempotency" in failed:
            raise TurnAlreadyFinished
        if "conversation" not in failed or not self.release_lease:
            return False
        logger.warning("turn %s outlived its lease on conversation %s", self.turn.turn_id, self.turn.conversation_id)
        self.release_lease = False
        return True
