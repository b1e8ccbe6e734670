"""Plans and the monthly token limits they grant (settings ``USAGE_PLAN_LIMITS``/``USAGE_ENGINE_LIMITS``)."""

from datetime import UTC, datetime

from django.conf import settings

PLANS = ("free", "basic", "premium")


def plan_limit(plan: str) -> int:
    """Monthly tokens of ``plan``; an unknown stored plan falls back to the default plan's limit."""
    limits = settings.USAGE_PLAN_LIMITS
    return limits.get(plan, limits[settings.USAGE_DEFAULT_PLAN])


def engine_limit(engine_type: str) -> int | None:
    """Optional monthly per-user limit for one engine type, on top of the plan's limit."""
    return settings.USAGE_ENGINE_LIMITS.get(engine_type)


def month_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def engine_bucket_key(month: str, engine_type: str) -> str:
    return f"{month}#{engine_type}"


def month_resets_at(moment: datetime) -> datetime:
    """Start of the next UTC month: when a monthly allowance starts over."""
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1, tzinfo=UTC)
    return datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)


def day_engine_key(day: str, engine_type: str) -> str:
    """Range key of a user's ``DailyUsage`` item for one day (ISO date) and engine type."""
    return f"{day}#{engine_type}"


def user_engine_key(user_id: str, engine_type: str) -> str:
    """Hash key of the ``by_user_engine`` index: one user's usage of one engine type."""
    return f"{user_id}#{engine_type}"
