"""Plan changes by staff, effective on the user's next reservation."""

import pytest

from config.errors import ValidationFailed
from tests.factories import usage_spend
from usage.models import UserPlan
from usage.selectors import plan_get, quota_status
from usage.services import plan_set, quota_reserve

pytestmark = pytest.mark.usefixtures("quota")


def test_plan_raises_the_limit():
    usage_spend(user_id="u1", input_tokens=5_000, output_tokens=5_000)
    plan_set(user_id="u1", plan="basic", changed_by="staff")
    assert plan_get(user_id="u1") == "basic"
    reservation = quota_reserve(
        user_id="u1", engine_type="11", estimated_input_tokens=1_000, max_output_tokens=4_096, is_staff=False
    )
    assert reservation.plan == "basic"
    assert quota_status(user_id="u1").limit == 100_000
    assert UserPlan.get("u1").updated_by == "staff"


def test_an_unknown_plan_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        plan_set(user_id="u1", plan="platinum", changed_by="staff")
    assert refused.value.code == "invalid_plan"
    assert refused.value.extra == {"fields": {"plan": ["Unknown plan."]}}
