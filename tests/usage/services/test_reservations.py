"""Quota reservations: the worst case held before a call, clamped to what is left, refused when nothing useful is."""

from datetime import UTC, datetime, timedelta

import pytest
from pynamodb.connection.base import Connection

from config.errors import QuotaExceeded
from tests.factories import SONNET, usage_spend
from usage.models import MonthlyUsage, UsageReservation, UserPlan
from usage.selectors import quota_status
from usage.services import quota_reserve, reservations_expire_stale, usage_record

pytestmark = pytest.mark.usefixtures("quota")


def reserve(user="u1", engine="11", estimated_input=1_000, max_output=4_096, staff=False):
    return quota_reserve(
        user_id=user,
        engine_type=engine,
        estimated_input_tokens=estimated_input,
        max_output_tokens=max_output,
        is_staff=staff,
    )


def bucket(user, key):
    return MonthlyUsage.get(user, key)


def test_reservation_holds_worst_case_until_settled():
    reservation = reserve(estimated_input=1_000, max_output=4_096)
    assert (reservation.reserved_tokens, reservation.max_output_tokens, reservation.clamped) == (5_096, 4_096, False)
    status = quota_status(user_id="u1")
    assert (status.used, status.reserved, status.remaining, status.percentage) == (0, 5_096, 4_904, 0.0)
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=900, output_tokens=333)
    status = quota_status(user_id="u1")
    assert (status.used, status.reserved, status.remaining, status.percentage) == (1_233, 0, 8_767, 12.3)
    assert status.resets_at == datetime(2026, 6, 1, tzinfo=UTC)


def test_a_reservation_with_the_plan_cached_and_room_left_is_one_transaction(monkeypatch):
    reserve(estimated_input=100, max_output=100)  # caches the plan
    operations = []
    original = Connection.dispatch

    def counting(self, operation_name, operation_kwargs):
        operations.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", counting)

    reserve(estimated_input=100, max_output=100)

    assert operations == ["TransactWriteItems"]


def test_worst_case_larger_than_what_is_left_is_clamped():
    usage_spend(user_id="u1", input_tokens=4_000, output_tokens=4_500)  # 8,500 used
    reservation = reserve(estimated_input=700, max_output=4_096)
    assert reservation.clamped
    assert (reservation.max_output_tokens, reservation.reserved_tokens) == (800, 1_500)
    assert bucket("u1", "2026-05").allocated_tokens == 10_000


def test_refused_when_nothing_meaningful_is_left():
    usage_spend(user_id="u1", input_tokens=4_000, output_tokens=5_500)  # 9,500 used
    with pytest.raises(QuotaExceeded) as refused:
        reserve(estimated_input=300, max_output=4_096)  # only 200 output tokens would be left
    body = refused.value.as_dict()
    assert body == {
        "error": "Your monthly token allowance is used up.",
        "code": "quota_exceeded",
        "limit": 10_000,
        "used": 9_500,
        "remaining": 500,
        "resetsAt": "2026-06-01T00:00:00Z",
        "scope": "month",
    }
    assert refused.value.status == 429
    # A small request that fits entirely still goes through.
    assert reserve(estimated_input=300, max_output=150).max_output_tokens == 150


def test_allowance_starts_over_next_month(quota):
    usage_spend(user_id="u1", input_tokens=5_000, output_tokens=5_000)
    with pytest.raises(QuotaExceeded):
        reserve()
    quota.move_to(datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC))
    reservation = reserve()
    assert reservation.month == "2026-06" and reservation.day == "2026-06-01"


def test_a_plan_changed_by_another_process_is_effective_on_the_next_reservation():
    """This process caches plans; every reservation's transaction checks the stored plan, so none goes stale."""
    usage_record(reservation=reserve(max_output=1_000), model_id=SONNET, input_tokens=1_000, output_tokens=7_000)
    assert reserve(estimated_input=1_000, max_output=4_096).max_output_tokens == 1_000  # free: 1,000 left of 10,000

    UserPlan("u1", plan="basic").save()  # another process's plan_set: this process's cache still says "free"
    upgraded = reserve(estimated_input=1_000, max_output=4_096)
    assert (upgraded.plan, upgraded.max_output_tokens) == ("basic", 4_096)

    UserPlan("u1", plan="free").save()  # and back down, again behind this process's back
    with pytest.raises(QuotaExceeded):
        reserve(estimated_input=1_000, max_output=4_096)


def test_staff_bypass_is_a_setting(settings):
    usage_spend(user_id="boss", input_tokens=5_000, output_tokens=5_000)
    granted = reserve(user="boss", staff=True, max_output=8_000)
    assert granted.bypass and granted.max_output_tokens == 8_000
    usage_record(reservation=granted, model_id=SONNET, input_tokens=1_000, output_tokens=2_000)
    assert bucket("boss", "2026-05").total_tokens == 13_000  # staff usage is still recorded

    settings.USAGE_STAFF_BYPASS = False
    with pytest.raises(QuotaExceeded):
        reserve(user="boss", staff=True)


def test_engine_limit_applies_on_top_of_the_plan(settings):
    settings.USAGE_ENGINE_LIMITS = {"22": 2_000}
    usage_record(reservation=reserve(engine="22", max_output=500), model_id=SONNET, input_tokens=800, output_tokens=900)
    with pytest.raises(QuotaExceeded) as refused:
        reserve(engine="22", estimated_input=100, max_output=1_000)
    assert refused.value.extra["scope"] == "engine" and refused.value.extra["engineType"] == "22"
    assert (refused.value.extra["limit"], refused.value.extra["remaining"]) == (2_000, 300)
    assert reserve(engine="11").max_output_tokens == 4_096  # other engine types only see the plan limit


def test_stale_reservation_of_a_dead_worker_is_given_back(quota):
    start = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    quota.move_to(start)
    leaked = reserve(estimated_input=1_000, max_output=8_000)  # 9,000 held, never settled
    with pytest.raises(QuotaExceeded):
        reserve(estimated_input=1_000, max_output=4_096)
    quota.move_to(start + timedelta(seconds=901))
    fresh = reserve(estimated_input=1_000, max_output=4_096)  # the refusal path expires the leaked one first
    assert UsageReservation.get(leaked.reservation_id).status == "expired"
    assert bucket("u1", "2026-05").allocated_tokens == fresh.reserved_tokens
    # If the slow worker was alive after all, its usage still counts, without a second give-back.
    assert usage_record(reservation=leaked, model_id=SONNET, input_tokens=1_000, output_tokens=10).recorded
    month = bucket("u1", "2026-05")
    assert (month.total_tokens, month.reserved_tokens, month.allocated_tokens) == (1_010, 5_096, 6_106)
    assert reservations_expire_stale(user_id="u1") == 0


def test_invalid_sizes_are_programming_errors():
    with pytest.raises(ValueError):
        reserve(max_output=0)
    with pytest.raises(ValueError):
        reserve(estimated_input=-1)
