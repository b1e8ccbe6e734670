"""Finishing a chat turn: one ``TransactWriteItems`` stores the answer, releases the turn's lease, slot and
idempotency key, and settles (or gives back) its quota reservation, before ``chat_end`` is sent."""

import logging
from dataclasses import replace

from config.bedrock.client import StreamUsage
from config.bedrock.tokens import tokens_estimate
from config.dynamodb.transactions import TxPart, transact
from conversations.services.turn_parts import AnswerRecord, TurnAlreadyFinished
from conversations.services.turn_types import Turn, TurnOutcome
from usage.services import ReservationRelease, usage_settlement_build

logger = logging.getLogger(__name__)

_FINISH_ATTEMPTS = 6


def turn_finish(*, turn: Turn, outcome: TurnOutcome) -> TurnOutcome:
    """Store ``outcome``; returns it as stored, with its usage (estimated if the stream was cut) and cost."""
    outcome, settlement = _settled(turn, outcome)
    parts: list[TxPart] = [AnswerRecord(turn=turn, outcome=outcome)]
    if settlement is not None:
        parts.append(settlement)
    try:
        transact(
            parts, attempts=_FINISH_ATTEMPTS, busy_error=RuntimeError(f"turn {turn.turn_id} could not be finished")
        )
    except TurnAlreadyFinished:
        logger.warning("turn %s was already finished (a retried store, or recovered after its lease)", turn.turn_id)
    return outcome


def _settled(turn: Turn, outcome: TurnOutcome) -> tuple[TurnOutcome, TxPart | None]:
    """The usage to hand to the usage app: recorded (estimated when the stream was cut) or the reservation released.

    A failure here is logged and the answer stored anyway (the reservation then expires as stale), never lost.
    """
    reservation = turn.reservation
    if reservation is None:
        return outcome, None
    try:
        if outcome.usage is None:
            if not outcome.content:
                return outcome, ReservationRelease(reservation=reservation)
            estimate = StreamUsage(input_tokens=turn.input_estimate, output_tokens=tokens_estimate(outcome.content))
            outcome = replace(outcome, usage=estimate, usage_estimated=True)
        settlement = usage_settlement_build(
            reservation=reservation,
            model_id=turn.config.model_id,
            usage=outcome.usage,
            estimated=outcome.usage_estimated,
            kind="chat",
        )
    except Exception:
        logger.exception("settling the usage of turn %s failed", turn.turn_id)
        return outcome, None
    charge = settlement.charge
    return replace(outcome, cost_usd=charge.cost_usd, price_version=charge.price_version), settlement
