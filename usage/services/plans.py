"""Users' plans: set by staff, cached per process and re-checked by every reservation's transaction."""

from django.conf import settings

from config.clock import utcnow
from config.errors import ValidationFailed
from usage.models import UserPlan
from usage.plans import PLANS
from usage.selectors import plan_record_get

# user id -> (plan, whether a UserPlan item is stored). Never trusted blindly: each reservation's transaction
# checks the stored plan is still this one, so a staff change anywhere is effective on the user's next send.
_plans: dict[str, tuple[str, bool]] = {}
_PLAN_CACHE_SIZE = 50_000


def plan_refresh(*, user_id: str) -> tuple[str, bool]:
    """The stored plan (one consistent GetItem), remembered: ``(plan, stored)``."""
    record = plan_record_get(user_id=user_id, consistent_read=True)
    known = (record.plan, True) if record is not None else (settings.USAGE_DEFAULT_PLAN, False)
    if len(_plans) >= _PLAN_CACHE_SIZE:
        _plans.clear()  # a bound on memory; a miss only costs one GetItem
    _plans[user_id] = known
    return known


def plan_cached(*, user_id: str) -> tuple[str, bool]:
    """The plan this process last saw for the user (read only on a miss): ``(plan, stored)``."""
    return _plans.get(user_id) or plan_refresh(user_id=user_id)


def plan_set(*, user_id: str, plan: str, changed_by: str) -> UserPlan:
    """Staff only (the admin is the only caller): no client can choose its own plan."""
    if plan not in PLANS:
        raise ValidationFailed(f"Unknown plan {plan!r}.", code="invalid_plan", fields={"plan": ["Unknown plan."]})
    record = UserPlan(user_id, plan=plan, updated_at=utcnow(), updated_by=changed_by)
    record.save()
    # Other processes learn it from their next reservation's plan check; this one needs no failed try.
    _plans[user_id] = (plan, True)
    return record
