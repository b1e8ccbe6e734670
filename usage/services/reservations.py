"""Quota reservations: one per model call, claimed before the call, given back unused or settled after it.

Arithmetic (docs/usage-and-quotas.md): every bucket keeps ``allocated = used + reserved``. A reservation adds
``amount`` to ``reserved`` and ``allocated`` on condition ``allocated <= limit - amount``; giving it back subtracts
``amount`` again. The reservation item's ``status`` is the condition of every settle/release, so nothing counts twice.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from pynamodb.expressions.condition import Condition

from config.clock import iso_z, utcnow
from config.dynamodb.transactions import TxPart, TxScope, transact
from config.errors import QuotaExceeded, RateLimited
from usage.models import MonthlyUsage, UsageReservation, UserPlan
from usage.plans import engine_bucket_key, engine_limit, month_key, month_resets_at, plan_limit
from usage.selectors import usage_bucket_get
from usage.services.plans import plan_cached, plan_refresh

logger = logging.getLogger(__name__)

# A lost race re-reads the bucket and tries again; each loss means another reservation went through.
_RESERVE_ATTEMPTS = 8
_CLOSE_ATTEMPTS = 6
# Reservation items are only needed until settled; TTL cleans them up long after any audit question.
_RESERVATION_RETENTION = timedelta(days=40)


def quota_busy() -> RateLimited:
    return RateLimited(_("Too many sends at once; try again in a moment."), code="quota_busy")


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


def bucket_keys(month: str, engine_type: str) -> tuple[str, str]:
    """The buckets one reservation counts in: the user's month, and the month of its engine type."""
    return month, engine_bucket_key(month, engine_type)


def _refusal(*, user_id: str, bucket: str, limit: int, item: MonthlyUsage | None, now: datetime) -> QuotaExceeded:
    used = int(item.total_tokens) if item else 0
    allocated = int(item.allocated_tokens) if item else 0
    scope = "engine" if "#" in bucket else "month"
    extra = {}
    if scope == "engine":
        extra["engineType"] = bucket.split("#", 1)[1]
    logger.info("quota refused user=%s bucket=%s limit=%s allocated=%s", user_id, bucket, limit, allocated)
    return QuotaExceeded(
        _("Your monthly token allowance is used up.")
        if scope == "month"
        else _("Your monthly token allowance for this engine type is used up."),
        limit=limit,
        used=used,
        remaining=max(0, limit - allocated),
        resetsAt=iso_z(month_resets_at(now)),
        scope=scope,
        **extra,
    )


class QuotaClaim:
    """One reservation being claimed, as a transaction part: alone (``quota_reserve``) or in the chat turn's begin.

    The happy path reads nothing: the plan comes from this process's cache and the buckets are assumed to have
    room. The transaction carries the conditions that make this safe (the stored plan is unchanged; every bucket's
    ``allocated <= limit - amount``); when one fails, ``on_cancelled`` reads what it has to and the next attempt
    drafts again. Each attempt drafts from ``estimated_input_tokens`` and ``max_output_tokens``, which the caller
    may change between attempts; ``add_to`` raises ``QuotaExceeded`` when the call cannot run.
    """

    def __init__(
        self, *, user_id: str, engine_type: str, is_staff: bool, estimated_input_tokens: int, max_output_tokens: int
    ) -> None:
        self.user_id = user_id
        self.engine_type = engine_type
        self.estimated_input_tokens = estimated_input_tokens
        self.max_output_tokens = max_output_tokens
        self.now = utcnow()
        self.month = month_key(self.now)
        self.bypass = is_staff and settings.USAGE_STAFF_BYPASS
        self.plan, self._plan_stored = plan_cached(user_id=user_id)
        self._buckets: dict[str, MonthlyUsage | None] | None = None  # None: not read, assumed to have room
        self._expired_stale = False
        self._losses = 0
        self.reservation: Reservation | None = None

    def _limits(self) -> dict[str, int | None]:
        """Each bucket the reservation touches, with the limit it is checked against (None = not checked)."""
        month_bucket, engine_bucket = bucket_keys(self.month, self.engine_type)
        if self.bypass:
            return {month_bucket: None, engine_bucket: None}
        return {month_bucket: plan_limit(self.plan), engine_bucket: engine_limit(self.engine_type)}

    def _buckets_read(self) -> None:
        self._buckets = {
            bucket: usage_bucket_get(user_id=self.user_id, bucket=bucket, consistent_read=True)
            for bucket, limit in self._limits().items()
            if limit is not None
        }

    def _draft(self) -> Reservation:
        """The reservation to write next, clamped to the room known; raises ``QuotaExceeded`` if it cannot run.

        When the worst case does not fit but some allowance is left, the output is clamped to what is left
        (``Reservation.max_output_tokens``); the send is refused only if fewer than ``USAGE_MIN_OUTPUT_TOKENS``
        output tokens (or the requested maximum, if smaller) would remain.
        """
        estimated_input_tokens, max_output_tokens = self.estimated_input_tokens, self.max_output_tokens
        if estimated_input_tokens < 0 or max_output_tokens < 1:
            raise ValueError("estimated_input_tokens must be >= 0 and max_output_tokens >= 1")
        smallest_useful_output = min(max_output_tokens, settings.USAGE_MIN_OUTPUT_TOKENS)
        while True:
            granted = max_output_tokens
            short = None
            for bucket, limit in self._limits().items():
                if limit is None:
                    continue
                item = self._buckets.get(bucket) if self._buckets is not None else None
                granted = min(granted, limit - (int(item.allocated_tokens) if item else 0) - estimated_input_tokens)
                if granted < smallest_useful_output:
                    short = (bucket, limit, item)
                    break
            if short is None:
                break
            if self._buckets is None:
                self._buckets_read()  # even an empty bucket would not do: read the real figures for the answer
                continue
            if not self._expired_stale and reservations_expire_stale(user_id=self.user_id, now=self.now):
                self._expired_stale = True
                self._buckets_read()
                continue
            bucket, limit, item = short
            raise _refusal(user_id=self.user_id, bucket=bucket, limit=limit, item=item, now=self.now)
        return Reservation(
            reservation_id=uuid.uuid4().hex,
            user_id=self.user_id,
            engine_type=self.engine_type,
            plan=self.plan,
            month=self.month,
            day=self.now.date().isoformat(),
            created_at=self.now,
            reserved_tokens=estimated_input_tokens + granted,
            estimated_input_tokens=estimated_input_tokens,
            max_output_tokens=granted,
            requested_max_output_tokens=max_output_tokens,
            bypass=self.bypass,
        )

    def add_to(self, tx: TxScope) -> None:
        reservation = self.reservation = self._draft()
        amount = reservation.reserved_tokens
        limits = self._limits()
        if any(limit is not None for limit in limits.values()):
            tx.check(
                "plan",
                UserPlan,
                self.user_id,
                condition=UserPlan.plan == self.plan if self._plan_stored else UserPlan.user_id.does_not_exist(),
            )
        tx.put(
            "reservation",
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
        # An absent bucket has room: the draft never grants more than the limit itself.
        room = {
            bucket: (MonthlyUsage.allocated_tokens <= limit - amount) | MonthlyUsage.allocated_tokens.does_not_exist()
            for bucket, limit in limits.items()
            if limit is not None
        }
        actions = [MonthlyUsage.updated_at.set(reservation.created_at)]
        buckets_update(tx, reservation, reserved=amount, allocated=amount, actions=actions, conditions=room)

    def on_cancelled(self, failed: set[str]) -> bool:
        """A changed plan is re-read; a bucket without room is read so the next draft clamps to the real room.
        Raises ``RateLimited(quota_busy)`` after ``_RESERVE_ATTEMPTS`` lost races."""
        self._losses += 1
        if self._losses >= _RESERVE_ATTEMPTS:
            raise quota_busy()
        if "plan" in failed:
            self.plan, self._plan_stored = plan_refresh(user_id=self.user_id)
        if failed - {"plan", "reservation"}:
            self._buckets_read()
        return True


def quota_reserve(
    *, user_id: str, engine_type: str, estimated_input_tokens: int, max_output_tokens: int, is_staff: bool
) -> Reservation:
    """Reserve the worst case of one model call before making it; raises ``QuotaExceeded`` if it cannot run.

    One ``TransactWriteItems`` when the plan is cached and the buckets have room (see ``QuotaClaim`` for clamping).
    """
    claim = QuotaClaim(
        user_id=user_id,
        engine_type=engine_type,
        is_staff=is_staff,
        estimated_input_tokens=estimated_input_tokens,
        max_output_tokens=max_output_tokens,
    )
    transact([claim], attempts=2 * _RESERVE_ATTEMPTS, busy_error=quota_busy())
    return claim.reservation


def buckets_update(
    tx: TxScope,
    reservation: Reservation | UsageReservation,
    *,
    reserved: int,
    allocated: int,
    actions: list,
    conditions: dict[str, Condition] | None = None,
) -> None:
    """Change each bucket the reservation counts in by ``reserved`` and ``allocated`` tokens, with ``actions``
    (and a bucket's condition, if ``conditions`` has one): ``allocated = used + reserved`` stays true."""
    for bucket in bucket_keys(reservation.month, reservation.engine_type):
        tx.update(
            bucket,
            MonthlyUsage(reservation.user_id, bucket),
            actions=[
                MonthlyUsage.reserved_tokens.add(reserved),
                MonthlyUsage.allocated_tokens.add(allocated),
                *actions,
            ],
            condition=(conditions or {}).get(bucket),
        )


def reservation_item_close(tx: TxScope, reservation_id: str, *, status: str, expected: str, now: datetime) -> None:
    """The reservation item's part of settling or giving it back: on condition it is still ``expected``, it takes
    its final ``status`` and leaves the open-reservations index (the condition makes every close happen once)."""
    tx.update(
        "reservation",
        UsageReservation(reservation_id),
        actions=[
            UsageReservation.status.set(status),
            UsageReservation.open_user_id.remove(),
            UsageReservation.closed_at.set(now),
        ],
        condition=UsageReservation.status == expected,
    )


class ReservationRelease:
    """Giving a reservation's amount back unused, as a transaction part: ``status`` "released" (its call failed or
    was stopped before any output) or "expired" (a dead worker's, given back as stale).

    ``reservation`` is a ``Reservation`` or a stored ``UsageReservation``. Given back once: if the reservation is no
    longer ``reserved``, the next attempt writes nothing and ``released`` is False.
    """

    def __init__(
        self, *, reservation: Reservation | UsageReservation, status: str = "released", now: datetime | None = None
    ) -> None:
        self.reservation = reservation
        self.status = status
        self.now = now or utcnow()
        self.released = True

    def add_to(self, tx: TxScope) -> None:
        if not self.released:
            return
        reservation, amount = self.reservation, int(self.reservation.reserved_tokens)
        reservation_item_close(tx, reservation.reservation_id, status=self.status, expected="reserved", now=self.now)
        actions = [MonthlyUsage.updated_at.set(self.now)]
        buckets_update(tx, reservation, reserved=-amount, allocated=-amount, actions=actions)

    def on_cancelled(self, failed: set[str]) -> bool:
        if "reservation" not in failed:
            return False
        if self.status == "released":
            logger.warning("reservation %s was already settled or released", self.reservation.reservation_id)
        self.released = False
        return True


def reservation_close(part: TxPart, *, reservation_id: str) -> None:
    """Settle or give back one reservation (``part``) in a transaction of its own."""
    transact(
        [part], attempts=_CLOSE_ATTEMPTS, busy_error=RuntimeError(f"reservation {reservation_id} could not be closed")
    )


def reservations_expire_stale(*, user_id: str, now: datetime | None = None) -> int:
    """Give back reservations older than the lease (their worker died before settling). Returns how many."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.USAGE_RESERVATION_LEASE_SECONDS)
    expired = 0
    for item in UsageReservation.open_by_user.query(user_id, UsageReservation.created_at < cutoff):
        release = ReservationRelease(reservation=item, status="expired")
        reservation_close(release, reservation_id=item.reservation_id)
        if release.released:
            logger.warning("expired stale reservation %s of user %s", item.reservation_id, user_id)
            expired += 1
    return expired
