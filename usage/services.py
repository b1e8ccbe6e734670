"""Quota reservations and usage recording: one reservation per model call, settled or released exactly once.

Arithmetic (docs/usage-and-quotas.md): every bucket keeps ``allocated = used + reserved``. A reservation adds
``amount`` to ``reserved`` and ``allocated`` on condition ``allocated <= limit - amount``; settling adds the
actual tokens to ``used`` and ``actual - amount`` to ``allocated``; releasing subtracts ``amount`` again. The
reservation item's ``status`` is the condition of every settle/release transaction, so nothing counts twice.
"""

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from config.clock import utcnow
from config.dynamodb import connection
from config.errors import QuotaExceeded, RateLimited, ValidationFailed
from usage.models import DailyUsage, MonthlyUsage, UsageReservation, UserPlan
from usage.plans import PLANS, engine_bucket_key, engine_limit, iso_z, month_key, month_resets_at, plan_limit
from usage.pricing import price_for
from usage.selectors import plan_get, usage_bucket_get

logger = logging.getLogger(__name__)

USAGE_KINDS = ("chat", "title")
# A lost race re-reads the bucket and tries again; each loss means another reservation went through.
_RESERVE_ATTEMPTS = 8
# Reservation items are only needed until settled; TTL cleans them up long after any audit question.
_RESERVATION_RETENTION = timedelta(days=40)


@dataclass(frozen=True)
class Reservation:
    """A granted reservation. The model call must use ``max_output_tokens`` (it may be clamped)."""

    reservation_id: str
    user_id: str
    engine_type: str
    plan: str
    month: str
    day: str
    created_at: datetime
    reserved_tokens: int
    estimated_input_tokens: int
    max_output_tokens: int
    requested_max_output_tokens: int
    bypass: bool

    @property
    def clamped(self) -> bool:
        return self.max_output_tokens < self.requested_max_output_tokens


@dataclass(frozen=True)
class UsageCharge:
    cost_usd: float
    price_version: str
    cost: Decimal
    total_tokens: int
    estimated: bool
    # False when the reservation was already settled or released: the usage was not counted a second time.
    recorded: bool = True


def _buckets(reservation_month: str, engine_type: str) -> tuple[str, str]:
    return reservation_month, engine_bucket_key(reservation_month, engine_type)


def _limits(*, plan: str, month: str, engine_type: str, bypass: bool) -> dict[str, int | None]:
    """Each bucket the reservation touches, with the limit it is checked against (None = not checked)."""
    month_bucket, engine_bucket = _buckets(month, engine_type)
    if bypass:
        return {month_bucket: None, engine_bucket: None}
    return {month_bucket: plan_limit(plan), engine_bucket: engine_limit(engine_type)}


def _condition_failed(exc: TransactWriteError) -> bool:
    reasons = exc.cancellation_reasons or []
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)


def _refusal(*, user_id: str, bucket: str, limit: int, item: MonthlyUsage | None, now: datetime) -> QuotaExceeded:
    used = int(item.total_tokens) if item else 0
    allocated = int(item.allocated_tokens) if item else 0
    scope = "engine" if "#" in bucket else "month"
    extra = {}
    if scope == "engine":
        extra["engineType"] = bucket.split("#", 1)[1]
    logger.info("quota refused user=%s bucket=%s limit=%s allocated=%s", user_id, bucket, limit, allocated)
    return QuotaExceeded(
        "Your monthly token allowance is used up."
        if scope == "month"
        else "Your monthly token allowance for this engine type is used up.",
        limit=limit,
        used=used,
        remaining=max(0, limit - allocated),
        resetsAt=iso_z(month_resets_at(now)),
        scope=scope,
        **extra,
    )


def quota_reserve(
    *, user_id: str, engine_type: str, estimated_input_tokens: int, max_output_tokens: int, is_staff: bool
) -> Reservation:
    """Reserve the worst case of one model call before making it; raises ``QuotaExceeded`` if it cannot run.

    When the worst case does not fit but some allowance is left, the output is clamped to what is left
    (``Reservation.max_output_tokens``); the send is refused only if fewer than ``USAGE_MIN_OUTPUT_TOKENS``
    output tokens (or the requested maximum, if smaller) would remain.
    """
    if estimated_input_tokens < 0 or max_output_tokens < 1:
        raise ValueError("estimated_input_tokens must be >= 0 and max_output_tokens >= 1")
    now = utcnow()
    month = month_key(now)
    plan = plan_get(user_id=user_id)
    bypass = is_staff and settings.USAGE_STAFF_BYPASS
    limits = _limits(plan=plan, month=month, engine_type=engine_type, bypass=bypass)
    smallest_useful_output = min(max_output_tokens, settings.USAGE_MIN_OUTPUT_TOKENS)
    expired_stale = False

    for _attempt in range(_RESERVE_ATTEMPTS):
        granted = max_output_tokens
        for bucket, limit in limits.items():
            if limit is None:
                continue
            item = usage_bucket_get(user_id=user_id, bucket=bucket, consistent_read=True)
            room = limit - (int(item.allocated_tokens) if item else 0)
            granted = min(granted, room - estimated_input_tokens)
            if granted < smallest_useful_output:
                if not expired_stale and reservations_expire_stale(user_id=user_id, now=now):
                    expired_stale = True
                    break
                raise _refusal(user_id=user_id, bucket=bucket, limit=limit, item=item, now=now)
        else:
            reservation = Reservation(
                reservation_id=uuid.uuid4().hex,
                user_id=user_id,
                engine_type=engine_type,
                plan=plan,
                month=month,
                day=now.date().isoformat(),
                created_at=now,
                reserved_tokens=estimated_input_tokens + granted,
                estimated_input_tokens=estimated_input_tokens,
                max_output_tokens=granted,
                requested_max_output_tokens=max_output_tokens,
                bypass=bypass,
            )
            try:
                _reservation_write(reservation, limits)
            except TransactWriteError as exc:
                if not _condition_failed(exc):
                    raise
                continue  # another send took the room first: re-read and clamp again
            return reservation
    raise RateLimited("Too many sends at once; try again in a moment.", code="quota_busy")


def _reservation_write(reservation: Reservation, limits: dict[str, int | None]) -> None:
    amount = reservation.reserved_tokens
    with TransactWrite(connection=connection()) as tx:
        tx.save(
            UsageReservation(
                reservation.reservation_id,
                user_id=reservation.user_id,
                engine_type=reservation.engine_type,
                month=reservation.month,
                day=reservation.day,
                reserved_tokens=amount,
                status="reserved",
                open_user_id=reservation.user_id,
                created_at=reservation.created_at,
                expires_at=reservation.created_at + _RESERVATION_RETENTION,
            ),
            condition=UsageReservation.reservation_id.does_not_exist(),
        )
        for bucket, limit in limits.items():
            condition = None
            if limit is not None:
                condition = (MonthlyUsage.allocated_tokens <= limit - amount) | (
                    MonthlyUsage.allocated_tokens.does_not_exist()
                )
            tx.update(
                MonthlyUsage(reservation.user_id, bucket),
                actions=[
                    MonthlyUsage.reserved_tokens.add(amount),
                    MonthlyUsage.allocated_tokens.add(amount),
                    MonthlyUsage.updated_at.set(reservation.created_at),
                ],
                condition=condition,
            )


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
    if kind not in USAGE_KINDS:
        raise ValueError(f"kind must be one of {USAGE_KINDS}")
    tokens = (input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
    if any(value < 0 for value in tokens):
        raise ValueError("token counts must be >= 0")
    price = price_for(model_id, at=reservation.created_at)
    cost = price.cost(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
    )
    total = sum(tokens)
    charge = UsageCharge(
        cost_usd=float(cost), price_version=price.version, cost=cost, total_tokens=total, estimated=estimated
    )
    now = utcnow()
    # A reservation expired as stale has already given its amount back; settle it without a second give-back.
    for expected_status, give_back in (("reserved", reservation.reserved_tokens), ("expired", 0)):
        try:
            _settlement_write(
                reservation,
                expected_status=expected_status,
                give_back=give_back,
                tokens=tokens,
                cost=cost,
                estimated=estimated,
                kind=kind,
                now=now,
            )
        except TransactWriteError as exc:
            if not _condition_failed(exc):
                raise
            continue
        return charge
    logger.warning(
        "reservation %s was already settled or released; usage not counted again", reservation.reservation_id
    )
    return replace(charge, recorded=False)


def _counter_actions(model: type, *, tokens: tuple[int, int, int, int], cost: Decimal, estimated: bool, kind: str, now):
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens = tokens
    total = sum(tokens)
    actions = [
        model.input_tokens.add(input_tokens),
        model.output_tokens.add(output_tokens),
        model.cache_read_tokens.add(cache_read_tokens),
        model.cache_write_tokens.add(cache_write_tokens),
        model.total_tokens.add(total),
        model.cost_usd.add(cost),
        model.updated_at.set(now),
    ]
    if kind == "title":
        actions += [model.title_count.add(1), model.title_tokens.add(total)]
    else:
        actions.append(model.message_count.add(1))
    if estimated:
        actions.append(model.estimated_count.add(1))
    return actions


def _settlement_write(
    reservation: Reservation,
    *,
    expected_status: str,
    give_back: int,
    tokens: tuple[int, int, int, int],
    cost: Decimal,
    estimated: bool,
    kind: str,
    now: datetime,
) -> None:
    total = sum(tokens)
    counters = {"tokens": tokens, "cost": cost, "estimated": estimated, "kind": kind, "now": now}
    with TransactWrite(connection=connection()) as tx:
        tx.update(
            UsageReservation(reservation.reservation_id),
            actions=[
                UsageReservation.status.set("settled"),
                UsageReservation.open_user_id.remove(),
                UsageReservation.closed_at.set(now),
            ],
            condition=UsageReservation.status == expected_status,
        )
        for bucket in _buckets(reservation.month, reservation.engine_type):
            tx.update(
                MonthlyUsage(reservation.user_id, bucket),
                actions=[
                    *_counter_actions(MonthlyUsage, **counters),
                    MonthlyUsage.reserved_tokens.add(-give_back),
                    MonthlyUsage.allocated_tokens.add(total - give_back),
                ],
            )
        tx.update(
            DailyUsage(reservation.user_id, f"{reservation.day}#{reservation.engine_type}"),
            actions=[
                *_counter_actions(DailyUsage, **counters),
                DailyUsage.day.set(reservation.day),
                DailyUsage.user_engine.set(f"{reservation.user_id}#{reservation.engine_type}"),
                DailyUsage.engine_type.set(reservation.engine_type),
            ],
        )


def quota_release(*, reservation: Reservation) -> None:
    """Give a reservation back unused (the call failed, or was stopped before any usage). Safe to repeat."""
    _reservation_close(
        reservation_id=reservation.reservation_id,
        user_id=reservation.user_id,
        month=reservation.month,
        engine_type=reservation.engine_type,
        amount=reservation.reserved_tokens,
        new_status="released",
    )


def _reservation_close(
    *, reservation_id: str, user_id: str, month: str, engine_type: str, amount: int, new_status: str
) -> bool:
    now = utcnow()
    try:
        with TransactWrite(connection=connection()) as tx:
            tx.update(
                UsageReservation(reservation_id),
                actions=[
                    UsageReservation.status.set(new_status),
                    UsageReservation.open_user_id.remove(),
                    UsageReservation.closed_at.set(now),
                ],
                condition=UsageReservation.status == "reserved",
            )
            for bucket in _buckets(month, engine_type):
                tx.update(
                    MonthlyUsage(user_id, bucket),
                    actions=[
                        MonthlyUsage.reserved_tokens.add(-amount),
                        MonthlyUsage.allocated_tokens.add(-amount),
                        MonthlyUsage.updated_at.set(now),
                    ],
                )
    except TransactWriteError as exc:
        if not _condition_failed(exc):
            raise
        return False
    return True


def reservations_expire_stale(*, user_id: str, now: datetime | None = None) -> int:
    """Give back reservations older than the lease (their worker died before settling). Returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.USAGE_RESERVATION_LEASE_SECONDS)
    expired = 0
    for item in UsageReservation.open_by_user.query(user_id, UsageReservation.created_at < cutoff):
        if _reservation_close(
            reservation_id=item.reservation_id,
            user_id=item.user_id,
            month=item.month,
            engine_type=item.engine_type,
            amount=int(item.reserved_tokens),
            new_status="expired",
        ):
            logger.warning("expired stale reservation %s of user %s", item.reservation_id, user_id)
            expired += 1
    return expired


def plan_set(*, user_id: str, plan: str, changed_by: str) -> UserPlan:
    """Staff only (the admin is the only caller): no client can choose its own plan."""
    if plan not in PLANS:
        raise ValidationFailed(f"Unknown plan {plan!r}.", code="invalid_plan", fields={"plan": ["Unknown plan."]})
    record = UserPlan(user_id, plan=plan, updated_at=utcnow(), updated_by=changed_by)
    record.save()
    return record
