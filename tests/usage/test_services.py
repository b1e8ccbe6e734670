from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from config.errors import QuotaExceeded, ValidationFailed
from usage.models import DailyUsage, MonthlyUsage, UsageReservation, UserPlan
from usage.selectors import plan_get, quota_status
from usage.services import plan_set, quota_release, quota_reserve, reservations_expire_stale, usage_record

SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"
HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
NOW = datetime(2026, 5, 31, 23, 50, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.USAGE_PLAN_LIMITS = {"free": 10_000, "basic": 100_000, "premium": 500_000}
    settings.USAGE_DEFAULT_PLAN = "free"
    settings.USAGE_MIN_OUTPUT_TOKENS = 256
    settings.USAGE_ENGINE_LIMITS = {}
    settings.USAGE_STAFF_BYPASS = True
    settings.USAGE_RESERVATION_LEASE_SECONDS = 900


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = NOW

        def __call__(self):
            return self.now

    fake = Clock()
    monkeypatch.setattr("usage.services.utcnow", fake)
    monkeypatch.setattr("usage.selectors.utcnow", fake)
    return fake


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


def test_recorded_turn_aggregates_exact_numbers_in_day_month_and_engine_buckets(clock):
    first = reserve(engine="11")
    charge = usage_record(
        reservation=first,
        model_id=SONNET,
        input_tokens=1_200,
        output_tokens=800,
        cache_read_tokens=100,
        cache_write_tokens=50,
    )
    assert (charge.cost, charge.cost_usd, charge.price_version) == (Decimal("0.0158175"), 0.0158175, "2025-05-22")
    assert charge.total_tokens == 2_150 and charge.recorded and not charge.estimated

    second = reserve(engine="22", estimated_input=10, max_output=300)
    usage_record(reservation=second, model_id=HAIKU, input_tokens=7, output_tokens=3)

    month = bucket("u1", "2026-05")
    assert (month.input_tokens, month.output_tokens, month.cache_read_tokens, month.cache_write_tokens) == (
        1_207,
        803,
        100,
        50,
    )
    assert month.total_tokens == 2_160 and month.message_count == 2
    # 0.0158175 + (7*0.0008 + 3*0.004)/1000 = 0.0158175 + 0.0000176
    assert month.cost_usd == Decimal("0.0158351")
    assert (month.reserved_tokens, month.allocated_tokens) == (0, 2_160)
    assert bucket("u1", "2026-05#11").total_tokens == 2_150
    assert bucket("u1", "2026-05#22").total_tokens == 10

    day = DailyUsage.get("u1", "2026-05-31#11")
    assert (day.day, day.engine_type, day.user_engine) == ("2026-05-31", "11", "u1#11")
    assert (day.input_tokens, day.output_tokens, day.total_tokens, day.message_count) == (1_200, 800, 2_150, 1)
    assert day.cost_usd == Decimal("0.0158175")
    assert [d.day_engine for d in DailyUsage.by_day.query("2026-05-31")] == ["2026-05-31#11", "2026-05-31#22"]


def test_reservation_holds_worst_case_until_settled(clock):
    reservation = reserve(estimated_input=1_000, max_output=4_096)
    assert (reservation.reserved_tokens, reservation.max_output_tokens, reservation.clamped) == (5_096, 4_096, False)
    status = quota_status(user_id="u1")
    assert (status.used, status.reserved, status.remaining, status.percentage) == (0, 5_096, 4_904, 0.0)
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=900, output_tokens=333)
    status = quota_status(user_id="u1")
    assert (status.used, status.reserved, status.remaining, status.percentage) == (1_233, 0, 8_767, 12.3)
    assert status.resets_at == datetime(2026, 6, 1, tzinfo=UTC)


def test_stopped_turn_is_recorded_as_estimate_and_flagged(clock):
    reservation = reserve()
    charge = usage_record(
        reservation=reservation, model_id=SONNET, input_tokens=1_000, output_tokens=42, estimated=True
    )
    assert charge.estimated and charge.recorded
    month = bucket("u1", "2026-05")
    assert (month.total_tokens, month.estimated_count, month.message_count, month.reserved_tokens) == (1_042, 1, 1, 0)
    assert DailyUsage.get("u1", "2026-05-31#11").estimated_count == 1
    assert UsageReservation.get(reservation.reservation_id).status == "settled"


def test_failed_turn_releases_everything_and_records_nothing(clock):
    reservation = reserve()
    quota_release(reservation=reservation)
    quota_release(reservation=reservation)  # repeated release gives nothing back twice
    month = bucket("u1", "2026-05")
    assert (month.total_tokens, month.reserved_tokens, month.allocated_tokens, month.message_count) == (0, 0, 0, 0)
    assert UsageReservation.get(reservation.reservation_id).status == "released"
    with pytest.raises(DailyUsage.DoesNotExist):
        DailyUsage.get("u1", "2026-05-31#11")
    # A late record after a release is not counted either.
    assert usage_record(reservation=reservation, model_id=SONNET, input_tokens=5, output_tokens=5).recorded is False
    assert bucket("u1", "2026-05").total_tokens == 0


def test_each_turn_is_counted_once(clock):
    reservation = reserve()
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=100, output_tokens=100)
    again = usage_record(reservation=reservation, model_id=SONNET, input_tokens=100, output_tokens=100)
    assert again.recorded is False
    quota_release(reservation=reservation)
    month = bucket("u1", "2026-05")
    assert (month.total_tokens, month.message_count, month.allocated_tokens, month.reserved_tokens) == (200, 1, 200, 0)


def test_title_generation_is_its_own_kind(clock):
    chat = reserve()
    usage_record(reservation=chat, model_id=SONNET, input_tokens=100, output_tokens=50)
    title = reserve(estimated_input=200, max_output=30)
    usage_record(reservation=title, model_id=HAIKU, input_tokens=180, output_tokens=12, kind="title")
    for item in (bucket("u1", "2026-05"), DailyUsage.get("u1", "2026-05-31#11")):
        assert (item.total_tokens, item.message_count, item.title_count, item.title_tokens) == (342, 1, 1, 192)
    with pytest.raises(ValueError):
        usage_record(reservation=reserve(), model_id=SONNET, input_tokens=1, output_tokens=1, kind="other")


def test_worst_case_larger_than_what_is_left_is_clamped(clock):
    usage_record(reservation=reserve(), model_id=SONNET, input_tokens=4_000, output_tokens=4_500)  # 8,500 used
    reservation = reserve(estimated_input=700, max_output=4_096)
    assert reservation.clamped
    assert (reservation.max_output_tokens, reservation.reserved_tokens) == (800, 1_500)
    assert bucket("u1", "2026-05").allocated_tokens == 10_000


def test_refused_when_nothing_meaningful_is_left(clock):
    usage_record(reservation=reserve(), model_id=SONNET, input_tokens=4_000, output_tokens=5_500)  # 9,500 used
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


def test_allowance_starts_over_next_month(clock):
    usage_record(reservation=reserve(), model_id=SONNET, input_tokens=5_000, output_tokens=5_000)
    with pytest.raises(QuotaExceeded):
        reserve()
    clock.now = datetime(2026, 6, 1, 0, 0, 1, tzinfo=UTC)
    reservation = reserve()
    assert reservation.month == "2026-06" and reservation.day == "2026-06-01"


def test_turn_spanning_midnight_is_counted_where_it_started(clock):
    reservation = reserve()
    clock.now = datetime(2026, 6, 1, 0, 5, tzinfo=UTC)
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=10, output_tokens=10)
    assert bucket("u1", "2026-05").total_tokens == 20
    assert DailyUsage.get("u1", "2026-05-31#11").total_tokens == 20


def test_plan_raises_the_limit(clock):
    usage_record(reservation=reserve(), model_id=SONNET, input_tokens=5_000, output_tokens=5_000)
    plan_set(user_id="u1", plan="basic", changed_by="staff")
    assert plan_get(user_id="u1") == "basic"
    assert reserve().plan == "basic"
    assert quota_status(user_id="u1").limit == 100_000
    assert UserPlan.get("u1").updated_by == "staff"
    with pytest.raises(ValidationFailed):
        plan_set(user_id="u1", plan="platinum", changed_by="staff")


def test_a_plan_changed_by_another_process_is_effective_on_the_next_reservation(clock):
    """This process caches plans; every reservation's transaction checks the stored plan, so none goes stale."""
    usage_record(reservation=reserve(max_output=1_000), model_id=SONNET, input_tokens=1_000, output_tokens=7_000)
    assert reserve(estimated_input=1_000, max_output=4_096).max_output_tokens == 1_000  # free: 1,000 left of 10,000

    UserPlan("u1", plan="basic").save()  # another process's plan_set: this process's cache still says "free"
    upgraded = reserve(estimated_input=1_000, max_output=4_096)
    assert (upgraded.plan, upgraded.max_output_tokens) == ("basic", 4_096)

    UserPlan("u1", plan="free").save()  # and back down, again behind this process's back
    with pytest.raises(QuotaExceeded):
        reserve(estimated_input=1_000, max_output=4_096)


def test_staff_bypass_is_a_setting(clock, settings):
    usage_record(reservation=reserve(user="boss"), model_id=SONNET, input_tokens=5_000, output_tokens=5_000)
    granted = reserve(user="boss", staff=True, max_output=8_000)
    assert granted.bypass and granted.max_output_tokens == 8_000
    usage_record(reservation=granted, model_id=SONNET, input_tokens=1_000, output_tokens=2_000)
    assert bucket("boss", "2026-05").total_tokens == 13_000  # staff usage is still recorded

    settings.USAGE_STAFF_BYPASS = False
    with pytest.raises(QuotaExceeded):
        reserve(user="boss", staff=True)


def test_engine_limit_applies_on_top_of_the_plan(clock, settings):
    settings.USAGE_ENGINE_LIMITS = {"22": 2_000}
    usage_record(reservation=reserve(engine="22", max_output=500), model_id=SONNET, input_tokens=800, output_tokens=900)
    with pytest.raises(QuotaExceeded) as refused:
        reserve(engine="22", estimated_input=100, max_output=1_000)
    assert refused.value.extra["scope"] == "engine" and refused.value.extra["engineType"] == "22"
    assert (refused.value.extra["limit"], refused.value.extra["remaining"]) == (2_000, 300)
    assert reserve(engine="11").max_output_tokens == 4_096  # other engine types only see the plan limit


def test_stale_reservation_of_a_dead_worker_is_given_back(clock):
    start = clock.now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    leaked = reserve(estimated_input=1_000, max_output=8_000)  # 9,000 held, never settled
    with pytest.raises(QuotaExceeded):
        reserve(estimated_input=1_000, max_output=4_096)
    clock.now = start + timedelta(seconds=901)
    fresh = reserve(estimated_input=1_000, max_output=4_096)  # the refusal path expires the leaked one first
    assert UsageReservation.get(leaked.reservation_id).status == "expired"
    assert bucket("u1", "2026-05").allocated_tokens == fresh.reserved_tokens
    # If the slow worker was alive after all, its usage still counts, without a second give-back.
    assert usage_record(reservation=leaked, model_id=SONNET, input_tokens=1_000, output_tokens=10).recorded
    month = bucket("u1", "2026-05")
    assert (month.total_tokens, month.reserved_tokens, month.allocated_tokens) == (1_010, 5_096, 6_106)
    assert reservations_expire_stale(user_id="u1", now=clock.now) == 0


def test_invalid_arguments_are_programming_errors(clock):
    with pytest.raises(ValueError):
        reserve(max_output=0)
    with pytest.raises(ValueError):
        usage_record(reservation=reserve(), model_id=SONNET, input_tokens=-1, output_tokens=0)
