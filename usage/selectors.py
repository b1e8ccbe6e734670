"""Reads of usage, plans and quota state; every read is by key or by index (no Scan)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from config.clock import utcnow
from usage.models import DailyUsage, MonthlyUsage, UserPlan
from usage.plans import day_engine_key, engine_bucket_key, month_key, month_resets_at, plan_limit
from usage.pricing import Price, price_for


@dataclass(frozen=True)
class QuotaStatus:
    plan: str
    limit: int
    used: int
    reserved: int
    remaining: int  # limit - used - reserved, never below 0
    percentage: float  # used / limit, 0-100, one decimal
    resets_at: datetime


def plan_get(*, user_id: str) -> str:
    record = plan_record_get(user_id=user_id)
    return record.plan if record is not None else settings.USAGE_DEFAULT_PLAN


def plan_record_get(*, user_id: str, consistent_read: bool = False) -> UserPlan | None:
    """The stored plan item; None for a user on the default plan who was never given one."""
    try:
        return UserPlan.get(user_id, consistent_read=consistent_read)
    except UserPlan.DoesNotExist:
        return None


def usage_bucket_get(*, user_id: str, bucket: str, consistent_read: bool = False) -> MonthlyUsage | None:
    """A monthly bucket ("YYYY-MM" or "YYYY-MM#<engine_type>")."""
    try:
        return MonthlyUsage.get(user_id, bucket, consistent_read=consistent_read)
    except MonthlyUsage.DoesNotExist:
        return None


def usage_day_get(*, user_id: str, day: str, engine_type: str) -> DailyUsage | None:
    try:
        return DailyUsage.get(user_id, day_engine_key(day, engine_type))
    except DailyUsage.DoesNotExist:
        return None


def percentage_of(used: int, limit: int) -> float:
    if limit <= 0:
        return 100.0
    share = min(Decimal(used) * 100 / Decimal(limit), Decimal(100))
    return float(share.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def quota_status(*, user_id: str, at: datetime | None = None) -> QuotaStatus:
    """The user's plan and monthly figures: two GetItems."""
    at = at or utcnow()
    plan = plan_get(user_id=user_id)
    limit = plan_limit(plan)
    bucket = usage_bucket_get(user_id=user_id, bucket=month_key(at))
    used = int(bucket.total_tokens) if bucket else 0
    reserved = int(bucket.reserved_tokens) if bucket else 0
    return QuotaStatus(
        plan=plan,
        limit=limit,
        used=used,
        reserved=reserved,
        remaining=max(0, limit - used - reserved),
        percentage=percentage_of(used, limit),
        resets_at=month_resets_at(at),
    )


def usage_daily_list(*, user_id: str, start: date, end: date) -> list[DailyUsage]:
    """One user's daily records from ``start`` to ``end`` inclusive (one Query on the base table)."""
    # "#" sorts before every character of an engine id, "~" after: the range covers whole days.
    low = f"{start.isoformat()}#"
    high = f"{end.isoformat()}#~"
    return list(DailyUsage.query(user_id, DailyUsage.day_engine.between(low, high)))


def usage_daily_for_day(*, day: date) -> list[DailyUsage]:
    """All users' records of one day through the ``by_day`` index."""
    return list(DailyUsage.by_day.query(day.isoformat()))


def usage_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


@dataclass(frozen=True)
class UsageMonth:
    """One user's current UTC month: the quota, the month's bucket and each used engine type's bucket
    (None when never written), and the daily records newest first."""

    status: QuotaStatus
    bucket: MonthlyUsage | None
    engine_buckets: list[tuple[str, MonthlyUsage | None]]
    records: list[DailyUsage]


def usage_month_get(*, user_id: str, at: datetime | None = None) -> UsageMonth:
    at = at or utcnow()
    month = month_key(at)
    records = usage_daily_list(user_id=user_id, start=at.date().replace(day=1), end=at.date())
    engines = sorted({record.engine_type for record in records})
    return UsageMonth(
        status=quota_status(user_id=user_id, at=at),
        bucket=usage_bucket_get(user_id=user_id, bucket=month),
        engine_buckets=[
            (engine, usage_bucket_get(user_id=user_id, bucket=engine_bucket_key(month, engine))) for engine in engines
        ],
        records=records[::-1],
    )


@dataclass(frozen=True)
class UsageToday:
    """Today's (UTC) record of one user and engine type, read as the record itself, and the user's quota."""

    record: DailyUsage  # zeros (not stored) if nothing was used today
    quota: QuotaStatus

    def __getattr__(self, name: str) -> object:
        return getattr(self.record, name)


def usage_engine_resolve(engine_type: str) -> str:
    """The engine type a usage read means: ``USAGE_ENGINE_ALIASES`` maps ids such as the original SPA's ``C1``."""
    return settings.USAGE_ENGINE_ALIASES.get(engine_type, engine_type)


def usage_today_get(*, user_id: str, engine_type: str) -> UsageToday:
    """Today's (UTC) record of ``engine_type`` (or of the engine type it is an alias of), zeros if none."""
    engine_type = usage_engine_resolve(engine_type)
    now = utcnow()
    day = now.date().isoformat()
    record = usage_day_get(user_id=user_id, day=day, engine_type=engine_type) or DailyUsage(
        user_id, day_engine_key(day, engine_type), day=day, engine_type=engine_type
    )
    return UsageToday(record=record, quota=quota_status(user_id=user_id, at=now))


@dataclass(frozen=True)
class UsageMonthByEngine:
    """One user's daily records of this UTC month per engine type (newest first), and the user's quota."""

    by_engine: dict[str, list[DailyUsage]]
    quota: QuotaStatus


def usage_month_by_engine_get(*, user_id: str) -> UsageMonthByEngine:
    now = utcnow()
    by_engine: dict[str, list[DailyUsage]] = {}
    for record in reversed(usage_daily_list(user_id=user_id, start=now.date().replace(day=1), end=now.date())):
        by_engine.setdefault(record.engine_type, []).append(record)
    return UsageMonthByEngine(by_engine=by_engine, quota=quota_status(user_id=user_id, at=now))


def model_price_get(*, model_id: str, at: datetime | None = None) -> Price:
    """The price in force for ``model_id`` at ``at`` (default now); version ``"unpriced"`` (cost 0) if none."""
    return price_for(model_id, at=at)
