"""Reads of usage, plans and quota state; every read is by key or by index (no Scan)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from config.clock import utcnow
from usage.models import DailyUsage, MonthlyUsage, UserPlan
from usage.plans import month_key, month_resets_at, plan_limit


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
        return DailyUsage.get(user_id, f"{day}#{engine_type}")
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
