"""Settling a reservation with a call's usage (every aggregate, exactly once) or releasing it unused."""

from decimal import Decimal

import pytest

from tests.factories import SONNET
from usage.models import DailyUsage, MonthlyUsage, UsageReservation
from usage.services import quota_release, quota_reserve, usage_record

pytestmark = pytest.mark.usefixtures("quota")

HAIKU = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def reserve(engine="11", estimated_input=1_000, max_output=4_096):
    return quota_reserve(
        user_id="u1",
        engine_type=engine,
        estimated_input_tokens=estimated_input,
        max_output_tokens=max_output,
        is_staff=False,
    )


def bucket(key):
    return MonthlyUsage.get("u1", key)


def test_recorded_turn_aggregates_exact_numbers_in_day_month_and_engine_buckets():
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

    month = bucket("2026-05")
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
    assert bucket("2026-05#11").total_tokens == 2_150
    assert bucket("2026-05#22").total_tokens == 10

    day = DailyUsage.get("u1", "2026-05-31#11")
    assert (day.day, day.engine_type, day.user_engine) == ("2026-05-31", "11", "u1#11")
    assert (day.input_tokens, day.output_tokens, day.total_tokens, day.message_count) == (1_200, 800, 2_150, 1)
    assert day.cost_usd == Decimal("0.0158175")
    assert [d.day_engine for d in DailyUsage.by_day.query("2026-05-31")] == ["2026-05-31#11", "2026-05-31#22"]


def test_stopped_turn_is_recorded_as_estimate_and_flagged():
    reservation = reserve()
    charge = usage_record(
        reservation=reservation, model_id=SONNET, input_tokens=1_000, output_tokens=42, estimated=True
    )
    assert charge.estimated and charge.recorded
    month = bucket("2026-05")
    assert (month.total_tokens, month.estimated_count, month.message_count, month.reserved_tokens) == (1_042, 1, 1, 0)
    assert DailyUsage.get("u1", "2026-05-31#11").estimated_count == 1
    assert UsageReservation.get(reservation.reservation_id).status == "settled"


def test_failed_turn_releases_everything_and_records_nothing():
    reservation = reserve()
    quota_release(reservation=reservation)
    quota_release(reservation=reservation)  # repeated release gives nothing back twice
    month = bucket("2026-05")
    assert (month.total_tokens, month.reserved_tokens, month.allocated_tokens, month.message_count) == (0, 0, 0, 0)
    assert UsageReservation.get(reservation.reservation_id).status == "released"
    with pytest.raises(DailyUsage.DoesNotExist):
        DailyUsage.get("u1", "2026-05-31#11")
    # A late record after a release is not counted either.
    assert usage_record(reservation=reservation, model_id=SONNET, input_tokens=5, output_tokens=5).recorded is False
    assert bucket("2026-05").total_tokens == 0


def test_each_turn_is_counted_once():
    reservation = reserve()
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=100, output_tokens=100)
    again = usage_record(reservation=reservation, model_id=SONNET, input_tokens=100, output_tokens=100)
    assert again.recorded is False
    quota_release(reservation=reservation)
    month = bucket("2026-05")
    assert (month.total_tokens, month.message_count, month.allocated_tokens, month.reserved_tokens) == (200, 1, 200, 0)


def test_title_generation_is_its_own_kind():
    chat = reserve()
    usage_record(reservation=chat, model_id=SONNET, input_tokens=100, output_tokens=50)
    title = reserve(estimated_input=200, max_output=30)
    usage_record(reservation=title, model_id=HAIKU, input_tokens=180, output_tokens=12, kind="title")
    for item in (bucket("2026-05"), DailyUsage.get("u1", "2026-05-31#11")):
        assert (item.total_tokens, item.message_count, item.title_count, item.title_tokens) == (342, 1, 1, 192)
    with pytest.raises(ValueError):
        usage_record(reservation=reserve(), model_id=SONNET, input_tokens=1, output_tokens=1, kind="other")


def test_turn_spanning_midnight_is_counted_where_it_started(quota):
    reservation = reserve()
    quota.shift(15 * 60)  # 00:05 on June 1st
    usage_record(reservation=reservation, model_id=SONNET, input_tokens=10, output_tokens=10)
    assert bucket("2026-05").total_tokens == 20
    assert DailyUsage.get("u1", "2026-05-31#11").total_tokens == 20


def test_negative_token_counts_are_programming_errors():
    with pytest.raises(ValueError):
        usage_record(reservation=reserve(), model_id=SONNET, input_tokens=-1, output_tokens=0)
