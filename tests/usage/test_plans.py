"""Plans, their limits from settings, and the UTC month keys and resets of the monthly allowance."""

from datetime import UTC, datetime

import pytest

from usage.plans import PLANS, engine_bucket_key, engine_limit, month_key, month_resets_at, plan_limit


def test_the_plans_are_free_basic_and_premium_in_that_order():
    assert PLANS == ("free", "basic", "premium")


def test_each_plan_has_its_limit_from_settings(plan_limits):
    assert [plan_limit(plan) for plan in PLANS] == [10_000, 100_000, 500_000]


def test_limits_follow_the_settings_as_they_are_at_the_call(settings, plan_limits):
    settings.USAGE_PLAN_LIMITS = {**plan_limits, "basic": 123}

    assert plan_limit("basic") == 123


def test_an_unknown_stored_plan_gets_the_default_plans_limit(settings, plan_limits):
    assert plan_limit("enterprise") == 10_000

    settings.USAGE_DEFAULT_PLAN = "basic"
    assert plan_limit("enterprise") == 100_000


def test_an_engine_type_has_a_limit_only_when_one_is_configured(settings, plan_limits):
    assert engine_limit("11") is None

    settings.USAGE_ENGINE_LIMITS = {"11": 2_000}
    assert engine_limit("11") == 2_000
    assert engine_limit("22") is None


@pytest.mark.parametrize(
    ("moment", "key"),
    [
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "2026-01"),
        (datetime(2026, 3, 31, 23, 59, 59, 999_999, tzinfo=UTC), "2026-03"),
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026-12"),
    ],
)
def test_month_key_is_year_dash_two_digit_month(moment, key):
    assert month_key(moment) == key


def test_the_month_resets_at_midnight_utc_on_the_first_of_the_next_month():
    assert month_resets_at(datetime(2026, 5, 31, 23, 50, tzinfo=UTC)) == datetime(2026, 6, 1, tzinfo=UTC)
    assert month_resets_at(datetime(2026, 2, 1, 0, 0, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_resets_at(datetime(2028, 2, 29, 12, 0, tzinfo=UTC)) == datetime(2028, 3, 1, tzinfo=UTC)


def test_december_resets_on_the_first_of_january_of_the_next_year():
    resets = month_resets_at(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))

    assert resets == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets.tzinfo is UTC
    assert month_resets_at(datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_the_engine_bucket_key_is_the_month_and_engine_type_joined_by_a_hash():
    assert engine_bucket_key("2026-03", "11") == "2026-03#11"
    assert engine_bucket_key(month_key(datetime(2026, 12, 5, tzinfo=UTC)), "T5") == "2026-12#T5"
