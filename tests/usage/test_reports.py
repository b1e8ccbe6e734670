"""Usage reports: a user's own range, everyone's range by day index, the admin overview, and the range limits."""

from datetime import date
from decimal import Decimal

import pytest

from config.errors import ValidationFailed
from usage.models import DailyUsage
from usage.reports import Totals, report_range_check, usage_overview, usage_report, usage_summary

MARCH_1, MARCH_2, MARCH_3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def daily(user_id: str, day: date, engine_type: str, total_tokens: int, **counters) -> DailyUsage:
    record = DailyUsage(
        user_id,
        f"{day.isoformat()}#{engine_type}",
        day=day.isoformat(),
        user_engine=f"{user_id}#{engine_type}",
        engine_type=engine_type,
        total_tokens=total_tokens,
        **counters,
    )
    record.save()
    return record


@pytest.fixture
def march():
    """alice: three records over two days and two engine types; bob: one; both also outside 1-2 March."""
    daily("alice", MARCH_1, "11", 100, input_tokens=60, output_tokens=40, message_count=1, cost_usd=Decimal("0.10"))
    daily("alice", MARCH_1, "22", 300, input_tokens=200, output_tokens=100, message_count=2, cost_usd=Decimal("0.2"))
    daily(
        "alice",
        MARCH_2,
        "11",
        50,
        cache_read_tokens=30,
        cache_write_tokens=20,
        title_count=1,
        title_tokens=50,
        estimated_count=1,
        cost_usd=Decimal("0.01"),
    )
    daily("alice", MARCH_3, "11", 1_000)
    daily("bob", MARCH_2, "22", 500, message_count=1, cost_usd=Decimal("0.5"))
    daily("bob", date(2026, 2, 28), "11", 7_000)


def keys_and_tokens(report) -> list[tuple[str, int]]:
    return [(row.key, row.totals.total_tokens) for row in report.rows]


def test_a_users_summary_by_day_is_in_date_order_and_sums_every_counter_of_their_own_records(march):
    report = usage_summary(user_id="alice", start=MARCH_1, end=MARCH_2, group_by="day")

    assert (report.start, report.end, report.group_by) == (MARCH_1, MARCH_2, "day")
    assert keys_and_tokens(report) == [("2026-03-01", 400), ("2026-03-02", 50)]
    assert report.totals == Totals(
        input_tokens=260,
        output_tokens=140,
        cache_read_tokens=30,
        cache_write_tokens=20,
        total_tokens=450,
        message_count=3,
        title_count=1,
        title_tokens=50,
        estimated_count=1,
        cost_usd=Decimal("0.31"),
    )
    assert report.rows[0].totals.cost_usd == Decimal("0.30")


def test_a_users_summary_by_engine_type_puts_the_biggest_first(march):
    report = usage_summary(user_id="alice", start=MARCH_1, end=MARCH_3, group_by="engineType")

    assert keys_and_tokens(report) == [("11", 1_150), ("22", 300)]
    assert report.totals.total_tokens == 1_450


def test_equal_groups_are_ordered_by_key():
    daily("alice", MARCH_1, "zz", 10)
    daily("alice", MARCH_1, "aa", 10)

    report = usage_summary(user_id="alice", start=MARCH_1, end=MARCH_1, group_by="engineType")

    assert keys_and_tokens(report) == [("aa", 10), ("zz", 10)]


def test_a_range_without_records_reports_zero_totals_and_no_rows(march):
    report = usage_summary(user_id="carol", start=MARCH_1, end=MARCH_3, group_by="day")

    assert report.rows == []
    assert report.totals == Totals()


def test_the_staff_report_covers_every_user_of_the_range_biggest_first(march):
    by_user = usage_report(start=MARCH_1, end=MARCH_2, group_by="user")
    by_engine = usage_report(start=MARCH_1, end=MARCH_2, group_by="engineType")
    by_day = usage_report(start=MARCH_1, end=MARCH_3, group_by="day")

    assert keys_and_tokens(by_user) == [("bob", 500), ("alice", 450)]
    assert by_user.totals.total_tokens == 950 and by_user.totals.cost_usd == Decimal("0.81")
    assert keys_and_tokens(by_engine) == [("22", 800), ("11", 150)]
    assert keys_and_tokens(by_day) == [("2026-03-01", 400), ("2026-03-02", 550), ("2026-03-03", 1_000)]


def test_reports_read_by_key_and_index_never_by_scan(march, monkeypatch):
    def no_scan(*args, **kwargs):
        raise AssertionError("a report must not scan the table")

    monkeypatch.setattr(DailyUsage, "scan", no_scan)

    assert usage_summary(user_id="alice", start=MARCH_1, end=MARCH_3, group_by="day").totals.total_tokens == 1_450
    assert usage_report(start=MARCH_1, end=MARCH_3, group_by="user").totals.total_tokens == 1_950
    assert usage_overview(start=MARCH_1, end=MARCH_3).users.totals.total_tokens == 1_950


def test_the_overview_has_every_day_of_the_range_the_engines_used_and_tokens_per_day_and_engine(march):
    overview = usage_overview(start=date(2026, 2, 28), end=MARCH_2)

    assert overview.days == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert overview.engines == ["11", "22"]
    assert overview.cells == {
        ("2026-02-28", "11"): 7_000,
        ("2026-03-01", "11"): 100,
        ("2026-03-01", "22"): 300,
        ("2026-03-02", "11"): 50,
        ("2026-03-02", "22"): 500,
    }
    assert overview.users.group_by == "user"
    assert keys_and_tokens(overview.users) == [("bob", 7_500), ("alice", 450)]


def test_the_overview_of_days_without_records_still_lists_the_days():
    overview = usage_overview(start=MARCH_1, end=MARCH_2)

    assert overview.days == ["2026-03-01", "2026-03-02"]
    assert (overview.engines, overview.cells, overview.users.rows) == ([], {}, [])


def test_a_range_ending_before_it_starts_is_refused_by_every_report():
    for report in (
        lambda: usage_summary(user_id="alice", start=MARCH_2, end=MARCH_1, group_by="day"),
        lambda: usage_report(start=MARCH_2, end=MARCH_1, group_by="user"),
        lambda: usage_overview(start=MARCH_2, end=MARCH_1),
    ):
        with pytest.raises(ValidationFailed) as refusal:
            report()
        assert refusal.value.code == "invalid_range"
        assert refusal.value.message == "`from` must not be after `to`."


def test_a_range_may_cover_at_most_the_configured_number_of_days(settings):
    settings.USAGE_REPORT_MAX_DAYS = 3

    report_range_check(MARCH_1, MARCH_3)
    report_range_check(MARCH_1, MARCH_1)
    with pytest.raises(ValidationFailed) as refusal:
        report_range_check(MARCH_1, date(2026, 3, 4))

    assert refusal.value.code == "range_too_large"
    assert refusal.value.message == "The range covers 4 days; at most 3 are allowed."
    with pytest.raises(ValidationFailed):
        usage_report(start=MARCH_1, end=date(2026, 3, 4), group_by="day")
