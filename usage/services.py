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

from config.clock import iso_z, utcnow
from config.dynamodb.tables import connection
from config.dynamodb.transactions import NamedTransactWrite
from config.errors import QuotaExceeded, RateLimited, ValidationFailed
from usage.models import DailyUsage, MonthlyUsage, UsageReservation, UserPlan
from usage.plans import PLANS, engine_bucket_key, engine_limit, month_key, month_resets_at, plan_limit
from usage.pricing import price_for
from usage.selectors import plan_record_get, usage_bucket_get

logger = logging.getLogger(__name__)

USAGE_KINDS = ("chat", "title")
# A lost race re-reads the bucket and tries again; each loss means another reservation went through.
_RESERVE_ATTEMPTS = 8
_CLOSE_ATTEMPTS = 6
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


# --- the plan, cached per process and re-checked by every reservation's transaction ----------------

# user id -> (plan, whether a UserPlan item is stored). Never trusted blindly: each reservation's transaction
# checks the stored plan is still this one, so a staff change anywhere is effective on the user's next send.
_plans: dict[str, tuple[str, bool]] = {}
_PLAN_CACHE_SIZE = 50_000


def _plan_refresh(user_id: str) -> tuple[str, bool]:
    record = plan_record_get(user_id=user_id, consistent_read=True)
    known = (record.plan, True) if record is not None else (settings.USAGE_DEFAULT_PLAN, False)
    if len(_plans) >= _PLAN_CACHE_SIZE:
        _plans.clear()  # a bound on memory; a miss only costs one GetItem
    _plans[user_id] = known
    return known


class QuotaClaim:
    """One reservation being claimed, possibly inside a caller's transaction (the chat turn's begin).

    The happy path reads nothing: the plan comes from this process's cache and the buckets are assumed to have
    room. The transaction carries the conditions that make this safe (the stored plan is unchanged; every
    bucket's ``allocated <= limit - amount``); when one fails, ``revise`` reads what it has to and the caller
    drafts and writes again. Use ``quota_claim_start``, then ``draft`` → ``write(tx)`` → commit (→ ``revise``).
    """

    def __init__(self, *, user_id: str, engine_type: str, is_staff: bool) -> None:
        self.user_id = user_id
        self.engine_type = engine_type
        self.now = utcnow()
        self.month = month_key(self.now)
        self.bypass = is_staff and settings.USAGE_STAFF_BYPASS
        self.plan, self._plan_stored = _plans.get(user_id) or _plan_refresh(user_id)
        self._buckets: dict[str, MonthlyUsage | None] | None = None  # None: not read, assumed to have room
        self._expired_stale = False
        self._losses = 0
        self.reservation: Reservation | None = None

    def _limits(self) -> dict[str, int | None]:
        return _limits(plan=self.plan, month=self.month, engine_type=self.engine_type, bypass=self.bypass)

    def _buckets_read(self) -> None:
        self._buckets = {
            bucket: usage_bucket_get(user_id=self.user_id, bucket=bucket, consistent_read=True)
            for bucket, limit in self._limits().items()
            if limit is not None
        }

    def draft(self, *, estimated_input_tokens: int, max_output_tokens: int) -> Reservation:
        """The reservation to write next, clamped to the room known; raises ``QuotaExceeded`` if it cannot run.

        When the worst case does not fit but some allowance is left, the output is clamped to what is left
        (``Reservation.max_output_tokens``); the send is refused only if fewer than ``USAGE_MIN_OUTPUT_TOKENS``
        output tokens (or the requested maximum, if smaller) would remain.
        """
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
        self.reservation = Reservation(
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
        return self.reservation

    def write(self, tx: NamedTransactWrite) -> None:
        """Add the drafted reservation's items (names ``quota:...``) to ``tx``."""
        reservation = self.reservation
        if reservation is None:
            raise RuntimeError("draft() the reservation first")
        amount = reservation.reserved_tokens
        limits = self._limits()
        if any(limit is not None for limit in limits.values()):
            tx.check(
                "quota:plan",
                UserPlan,
                self.user_id,
                condition=UserPlan.plan == self.plan if self._plan_stored else UserPlan.user_id.does_not_exist(),
            )
        tx.put(
            "quota:reservation",
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
                # An absent bucket has room: the draft never grants more than the limit itself.
                condition = (MonthlyUsage.allocated_tokens <= limit - amount) | (
                    MonthlyUsage.allocated_tokens.does_not_exist()
                )
            tx.change(
                f"quota:{bucket}",
                MonthlyUsage(reservation.user_id, bucket),
                actions=[
                    MonthlyUsage.reserved_tokens.add(amount),
                    MonthlyUsage.allocated_tokens.add(amount),
                    MonthlyUsage.updated_at.set(reservation.created_at),
                ],
                condition=condition,
            )

    def revise(self, failed: set[str]) -> bool:
        """After a cancelled transaction: True if one of the quota's conditions failed (draft and write again).

        A changed plan is re-read; a bucket without room is read so the next draft clamps to the real room.
        Raises ``RateLimited(quota_busy)`` after ``_RESERVE_ATTEMPTS`` lost races.
        """
        if not any(name.startswith("quota:") for name in failed):
            return False
        self._losses += 1
        if self._losses >= _RESERVE_ATTEMPTS:
            raise RateLimited("Too many sends at once; try again in a moment.", code="quota_busy")
        if "quota:plan" in failed:
            self.plan, self._plan_stored = _plan_refresh(self.user_id)
        if failed - {"quota:plan", "quota:reservation"}:
            self._buckets_read()
        return True


def quota_claim_start(*, user_id: str, engine_type: str, is_staff: bool) -> QuotaClaim:
    """A reservation to claim inside the caller's own transaction (reads the plan only if not cached)."""
    return QuotaClaim(user_id=user_id, engine_type=engine_type, is_staff=is_staff)


def quota_reserve(
    *, user_id: str, engine_type: str, estimated_input_tokens: int, max_output_tokens: int, is_staff: bool
) -> Reservation:
    """Reserve the worst case of one model call before making it; raises ``QuotaExceeded`` if it cannot run.

    One ``TransactWriteItems`` when the plan is cached and the buckets have room (see ``QuotaClaim.draft`` for
    clamping).
    """
    claim = quota_claim_start(user_id=user_id, engine_type=engine_type, is_staff=is_staff)
    for _attempt in range(2 * _RESERVE_ATTEMPTS):
        reservation = claim.draft(estimated_input_tokens=estimated_input_tokens, max_output_tokens=max_output_tokens)
        tx = NamedTransactWrite()
        try:
            with tx:
                claim.write(tx)
        except TransactWriteError as exc:
            if claim.revise(tx.failed(exc)) or tx.conflicted(exc):
                continue
            raise
        return reservation
    raise RateLimited("Too many sends at once; try again in a moment.", code="quota_busy")


# --- closing a reservation: settle (record the usage) or release -----------------------------------


@dataclass
class ReservationClose:
    """Settling or releasing one reservation, possibly inside a caller's transaction (the chat turn's finish).

    The reservation's ``status`` is the condition, so it happens once: ``revise`` after a failed condition
    switches to settling a reservation expired as stale (no second give-back), else to writing nothing.
    """

    reservation: Reservation
    now: datetime
    charge: UsageCharge | None = None  # None: a release
    tokens: tuple[int, int, int, int] = (0, 0, 0, 0)
    kind: str = "chat"
    expected_status: str = "reserved"
    skipped: bool = False

    @property
    def result(self) -> UsageCharge | None:
        if self.charge is None:
            return None
        return replace(self.charge, recorded=not self.skipped)

    def write(self, tx: NamedTransactWrite) -> None:
        """Add the items (names ``usage:...``) to ``tx``; nothing once ``skipped``."""
        if self.skipped:
            return
        reservation = self.reservation
        if self.charge is None:
            _release_items(tx, reservation, now=self.now)
            return
        give_back = reservation.reserved_tokens if self.expected_status == "reserved" else 0
        total = self.charge.total_tokens
        counters = {
            "tokens": self.tokens,
            "cost": self.charge.cost,
            "estimated": self.charge.estimated,
            "kind": self.kind,
            "now": self.now,
        }
        tx.change(
            "usage:reservation",
            UsageReservation(reservation.reservation_id),
            actions=[
                UsageReservation.status.set("settled"),
                UsageReservation.open_user_id.remove(),
                UsageReservation.closed_at.set(self.now),
            ],
            condition=UsageReservation.status == self.expected_status,
        )
        for bucket in _buckets(reservation.month, reservation.engine_type):
            tx.change(
                f"usage:{bucket}",
                MonthlyUsage(reservation.user_id, bucket),
                actions=[
                    *_counter_actions(MonthlyUsage, **counters),
                    MonthlyUsage.reserved_tokens.add(-give_back),
                    MonthlyUsage.allocated_tokens.add(total - give_back),
                ],
            )
        tx.change(
            "usage:day",
            DailyUsage(reservation.user_id, f"{reservation.day}#{reservation.engine_type}"),
            actions=[
                *_counter_actions(DailyUsage, **counters),
                DailyUsage.day.set(reservation.day),
                DailyUsage.user_engine.set(f"{reservation.user_id}#{reservation.engine_type}"),
                DailyUsage.engine_type.set(reservation.engine_type),
            ],
        )

    def revise(self, failed: set[str]) -> bool:
        if "usage:reservation" not in failed:
            return False
        if self.charge is not None and self.expected_status == "reserved":
            # A reservation expired as stale has already given its amount back; settle it without a second one.
            self.expected_status = "expired"
        else:
            logger.warning(
                "reservation %s was already settled or released; usage not counted again",
                self.reservation.reservation_id,
            )
            self.skipped = True
        return True


def _release_items(tx: NamedTransactWrite, reservation: Reservation, *, now: datetime) -> None:
    amount = reservation.reserved_tokens
    tx.change(
        "usage:reservation",
        UsageReservation(reservation.reservation_id),
        actions=[
            UsageReservation.status.set("released"),
            UsageReservation.open_user_id.remove(),
            UsageReservation.closed_at.set(now),
        ],
        condition=UsageReservation.status == "reserved",
    )
    for bucket in _buckets(reservation.month, reservation.engine_type):
        tx.change(
            f"usage:{bucket}",
            MonthlyUsage(reservation.user_id, bucket),
            actions=[
                MonthlyUsage.reserved_tokens.add(-amount),
                MonthlyUsage.allocated_tokens.add(-amount),
                MonthlyUsage.updated_at.set(now),
            ],
        )


def usage_settlement_build(
    *,
    reservation: Reservation,
    model_id: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    estimated: bool = False,
    kind: str = "chat",
) -> ReservationClose:
    """The settlement of one model call (priced), to write in the caller's transaction or via ``usage_record``."""
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
    charge = UsageCharge(
        cost_usd=float(cost), price_version=price.version, cost=cost, total_tokens=sum(tokens), estimated=estimated
    )
    return ReservationClose(reservation=reservation, now=utcnow(), charge=charge, tokens=tokens, kind=kind)


def quota_release_build(*, reservation: Reservation) -> ReservationClose:
    """Giving a reservation back unused, to write in the caller's transaction or via ``quota_release``."""
    return ReservationClose(reservation=reservation, now=utcnow())


def _close_commit(closing: ReservationClose) -> None:
    for _attempt in range(_CLOSE_ATTEMPTS):
        if closing.skipped:
            return
        tx = NamedTransactWrite()
        try:
            with tx:
                closing.write(tx)
        except TransactWriteError as exc:
            if closing.revise(tx.failed(exc)) or tx.conflicted(exc):
                continue
            raise
        return
    raise RuntimeError(f"reservation {closing.reservation.reservation_id} could not be closed")


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
    closing = usage_settlement_build(
        reservation=reservation,
        model_id=model_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
        estimated=estimated,
        kind=kind,
    )
    _close_commit(closing)
    return closing.result


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


def quota_release(*, reservation: Reservation) -> None:
    """Give a reservation back unused (the call failed, or was stopped before any usage). Safe to repeat."""
    closing = quota_release_build(reservation=reservation)
    _close_commit(closing)


def _condition_failed(exc: TransactWriteError) -> bool:
    reasons = exc.cancellation_reasons or []
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)


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
    # Other processes learn it from their next reservation's plan check; this one needs no failed try.
    _plans[user_id] = (plan, True)
    return record
