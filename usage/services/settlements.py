"""Closing a reservation: settled with the usage of its model call (recorded once, in every aggregate), or released.

Settling adds the actual tokens to ``used`` and ``actual - amount`` to ``allocated`` of each bucket the reservation
counted in, and counts the call in the day's record (docs/usage-and-quotas.md).
"""

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from config.bedrock.client import StreamUsage
from config.clock import utcnow
from config.dynamodb.transactions import TxScope
from usage.models import DailyUsage, MonthlyUsage
from usage.plans import day_engine_key, user_engine_key
from usage.pricing import price_for
from usage.services.reservations import (
    Reservation,
    ReservationRelease,
    buckets_update,
    reservation_close,
    reservation_item_close,
)

logger = logging.getLogger(__name__)

USAGE_KINDS = ("chat", "title")


@dataclass(frozen=True)
class UsageCharge:
    cost_usd: float
    price_version: str
    cost: Decimal
    total_tokens: int
    estimated: bool
    # False when the reservation was already settled or released: the usage was not counted a second time.
    recorded: bool = True


class ReservationSettlement:
    """Settling one reservation with its call's usage, as a transaction part: alone (``usage_record``) or in the
    chat turn's finish.

    The reservation's ``status`` is the condition, so it happens once. A reservation given back meanwhile as stale
    (``expired``) is still charged, without a second give-back; one already settled or released records nothing.
    """

    def __init__(
        self,
        *,
        reservation: Reservation,
        charge: UsageCharge,
        tokens: tuple[int, int, int, int],
        kind: str,
        now: datetime,
    ) -> None:
        self.reservation = reservation
        self.charge = charge
        self.tokens = tokens
        self.kind = kind
        self.now = now
        self.expected_status = "reserved"
        self.skipped = False

    @property
    def result(self) -> UsageCharge:
        return replace(self.charge, recorded=not self.skipped)

    def add_to(self, tx: TxScope) -> None:
        if self.skipped:
            return
        reservation, total = self.reservation, self.charge.total_tokens
        give_back = reservation.reserved_tokens if self.expected_status == "reserved" else 0
        reservation_item_close(
            tx, reservation.reservation_id, status="settled", expected=self.expected_status, now=self.now
        )
        counters = self._counter_actions(MonthlyUsage)
        buckets_update(tx, reservation, reserved=-give_back, allocated=total - give_back, actions=counters)
        tx.update(
            "day",
            DailyUsage(reservation.user_id, day_engine_key(reservation.day, reservation.engine_type)),
            actions=[
                *self._counter_actions(DailyUsage),
                DailyUsage.day.set(reservation.day),
                DailyUsage.user_engine.set(user_engine_key(reservation.user_id, reservation.engine_type)),
                DailyUsage.engine_type.set(reservation.engine_type),
            ],
        )

    def _counter_actions(self, model: type[MonthlyUsage] | type[DailyUsage]) -> list:
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens = self.tokens
        total = self.charge.total_tokens
        actions = [
            model.input_tokens.add(input_tokens),
            model.output_tokens.add(output_tokens),
            model.cache_read_tokens.add(cache_read_tokens),
            model.cache_write_tokens.add(cache_write_tokens),
            model.total_tokens.add(total),
            model.cost_usd.add(self.charge.cost),
            model.updated_at.set(self.now),
        ]
        if self.kind == "title":
            actions += [model.title_count.add(1), model.title_tokens.add(total)]
        else:
            actions.append(model.message_count.add(1))
        if self.charge.estimated:
            actions.append(model.estimated_count.add(1))
        return actions

    def on_cancelled(self, failed: set[str]) -> bool:
        if "reservation" not in failed:
            return False
        if self.expected_status == "reserved":
            # A reservation expired as stale has already given its amount back; settle it without a second one.
            self.expected_status = "expired"
        else:
            logger.warning(
                "reservation %s was already settled or released; usage not counted again",
                self.reservation.reservation_id,
            )
            self.skipped = True
        return True


def usage_settlement_build(
    *, reservation: Reservation, model_id: str, usage: StreamUsage, estimated: bool = False, kind: str = "chat"
) -> ReservationSettlement:
    """The settlement of one model call (priced), to write in the caller's transaction or via ``usage_record``."""
    if kind not in USAGE_KINDS:
        raise ValueError(f"kind must be one of {USAGE_KINDS}")
    tokens = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    if any(value < 0 for value in tokens):
        raise ValueError("token counts must be >= 0")
    price = price_for(model_id, at=reservation.created_at)
    cost = price.cost(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )
    charge = UsageCharge(
        cost_usd=float(cost), price_version=price.version, cost=cost, total_tokens=sum(tokens), estimated=estimated
    )
    return ReservationSettlement(reservation=reservation, charge=charge, tokens=tokens, kind=kind, now=utcnow())


def usage_record(
    *,
    reservation: Reservation,
    model_id: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    estimated: bool = False,
    kind: str = "chat",
) -> UsageCharge:
    """Record one model call's usage (daily + monthly + engine bucket) and settle its reservation, atomically.

    Counted once: a second call for the same reservation (or one after ``quota_release``) records nothing and
    returns ``recorded=False``. A reservation given back as stale is still charged (without a second give-back).
    """
    usage = StreamUsage(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    settlement = usage_settlement_build(
        reservation=reservation, model_id=model_id, usage=usage, estimated=estimated, kind=kind
    )
    reservation_close(settlement, reservation_id=reservation.reservation_id)
    return settlement.result


def quota_release(*, reservation: Reservation) -> None:
    """Give a reservation back unused (the call failed, or was stopped before any usage). Safe to repeat."""
    reservation_close(ReservationRelease(reservation=reservation), reservation_id=reservation.reservation_id)
