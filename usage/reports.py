"""Usage summed over a date range and grouped, for users (their own records) and staff (everyone's, by day index).

Every read is by key: a user's range is one Query on their partition; a staff report is one ``by_day`` index
Query per day of the range (bounded by ``USAGE_REPORT_MAX_DAYS``). Never a Scan.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings

from config.api.pagination import offset_decode, offset_page
from config.errors import ValidationFailed
from usage.models import DailyUsage
from usage.selectors import usage_daily_for_day, usage_daily_list, usage_days

USER_GROUPINGS = ("day", "engineType")
STAFF_GROUPINGS = ("user", "engineType", "day")


@dataclass
class Totals:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    total_tokens: int = 0
    message_count: int = 0
    title_count: int = 0
    title_tokens: int = 0
    estimated_count: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)

    def add(self, record: DailyUsage) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "total_tokens",
            "message_count",
            "title_count",
            "title_tokens",
            "estimated_count",
        ):
            setattr(self, name, getattr(self, name) + int(getattr(record, name) or 0))
        self.cost_usd += record.cost_usd or Decimal(0)


@dataclass
class Row:
    key: str
    totals: Totals


@dataclass
class Report:
    start: date
    end: date
    group_by: str
    totals: Totals
    rows: list[Row]
    user_id: str | None = None  # whose usage, for one user's summary


@dataclass
class ReportPage(Report):
    """One page of a report's rows; ``totals`` stay those of the whole range."""

    next_cursor: str | None = None

    @property
    def count(self) -> int:
        return len(self.rows)


def report_range_check(start: date, end: date) -> None:
    if start > end:
        raise ValidationFailed("`from` must not be after `to`.", code="invalid_range")
    days = (end - start).days + 1
    if days > settings.USAGE_REPORT_MAX_DAYS:
        raise ValidationFailed(
            f"The range covers {days} days; at most {settings.USAGE_REPORT_MAX_DAYS} are allowed.",
            code="range_too_large",
        )


_KEYS: dict[str, Callable[[DailyUsage], str]] = {
    "day": lambda record: record.day,
    "engineType": lambda record: record.engine_type,
    "user": lambda record: record.user_id,
}


def _grouped(
    records: Iterable[DailyUsage], *, start: date, end: date, group_by: str, user_id: str | None = None
) -> Report:
    totals = Totals()
    groups: dict[str, Totals] = {}
    key_of = _KEYS[group_by]
    for record in records:
        totals.add(record)
        groups.setdefault(key_of(record), Totals()).add(record)
    if group_by == "day":
        rows = [Row(key, groups[key]) for key in sorted(groups)]
    else:  # the biggest first: "top users", "top engine types"
        rows = [Row(key, value) for key, value in sorted(groups.items(), key=lambda kv: (-kv[1].total_tokens, kv[0]))]
    return Report(start=start, end=end, group_by=group_by, totals=totals, rows=rows, user_id=user_id)


def usage_summary(*, user_id: str, start: date, end: date, group_by: str) -> Report:
    """One user's usage in ``[start, end]`` grouped by day or engine type."""
    report_range_check(start, end)
    records = usage_daily_list(user_id=user_id, start=start, end=end)
    return _grouped(records, start=start, end=end, group_by=group_by, user_id=user_id)


def _records_by_day(start: date, end: date) -> list[DailyUsage]:
    return [record for day in usage_days(start, end) for record in usage_daily_for_day(day=day)]


def usage_report(*, start: date, end: date, group_by: str) -> Report:
    """Everyone's usage in ``[start, end]`` grouped by user, engine type or day (staff)."""
    report_range_check(start, end)
    return _grouped(_records_by_day(start, end), start=start, end=end, group_by=group_by)


def usage_report_page(*, start: date, end: date, group_by: str, limit: int, cursor: str | None = None) -> ReportPage:
    """A page of ``usage_report``. The report is aggregated in memory, so its cursor is a signed offset into the
    rows, valid only for the same range and grouping."""
    query = {"from": start.isoformat(), "to": end.isoformat(), "groupBy": group_by}
    offset = offset_decode(cursor, query=query)
    report = usage_report(start=start, end=end, group_by=group_by)
    page = offset_page(report.rows, offset=offset, limit=limit, query=query)
    return ReportPage(
        start=start, end=end, group_by=group_by, totals=report.totals, rows=page.items, next_cursor=page.next_cursor
    )


@dataclass
class Overview:
    """The admin dashboard's data: tokens per (day, engine type) for the chart, and users biggest first."""

    days: list[str]
    engines: list[str]
    cells: dict[tuple[str, str], int]
    users: Report


def usage_overview(*, start: date, end: date) -> Overview:
    report_range_check(start, end)
    records = _records_by_day(start, end)
    cells: dict[tuple[str, str], int] = {}
    for record in records:
        cell = (record.day, record.engine_type)
        cells[cell] = cells.get(cell, 0) + int(record.total_tokens or 0)
    return Overview(
        days=[day.isoformat() for day in usage_days(start, end)],
        engines=sorted({engine for _, engine in cells}),
        cells=cells,
        users=_grouped(records, start=start, end=end, group_by="user"),
    )
