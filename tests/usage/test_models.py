"""The key design of the usage tables: per user by key, all users of a day or month by index (no Scan)."""

from decimal import Decimal

from usage.models import DailyUsage, MonthlyUsage, UserPlan


def daily(user_id, day, engine_type, **counters):
    return DailyUsage(
        user_id,
        f"{day}#{engine_type}",
        day=day,
        user_engine=f"{user_id}#{engine_type}",
        engine_type=engine_type,
        **counters,
    )


def test_daily_usage_is_read_per_user_by_key_and_per_day_for_every_user():
    daily("alice", "2026-03-01", "11", total_tokens=10).save()
    daily("alice", "2026-03-01", "22", total_tokens=20).save()
    daily("alice", "2026-03-02", "11", total_tokens=30).save()
    daily("bob", "2026-03-01", "11", total_tokens=40).save()

    alice_march = DailyUsage.query("alice", DailyUsage.day_engine.startswith("2026-03"))
    first_of_march = DailyUsage.by_day.query("2026-03-01")

    assert [u.day_engine for u in alice_march] == ["2026-03-01#11", "2026-03-01#22", "2026-03-02#11"]
    assert [(u.user_engine, u.total_tokens) for u in first_of_march] == [
        ("alice#11", 10),
        ("alice#22", 20),
        ("bob#11", 40),
    ]


def test_counters_grow_with_atomic_adds_and_cost_stays_exact():
    daily("alice", "2026-03-01", "11").save()
    item = DailyUsage.get("alice", "2026-03-01#11")
    for _ in range(3):
        item.update(actions=[DailyUsage.total_tokens.add(7), DailyUsage.cost_usd.add(Decimal("0.1"))])

    stored = DailyUsage.get("alice", "2026-03-01#11")

    assert stored.total_tokens == 21
    assert stored.cost_usd == Decimal("0.3")


def test_monthly_usage_is_read_per_user_and_per_month_for_every_user():
    for user_id in ("carol", "alice"):
        MonthlyUsage(user_id, "2026-03", total_tokens=5).save()
    MonthlyUsage("alice", "2026-04", total_tokens=6).save()

    assert [u.user_id for u in MonthlyUsage.by_month.query("2026-03")] == ["alice", "carol"]
    assert [u.month for u in MonthlyUsage.query("alice")] == ["2026-03", "2026-04"]


def test_a_user_without_a_plan_item_has_none_stored():
    UserPlan("alice", plan="premium").save()

    assert UserPlan.get("alice").plan == "premium"
    assert UserPlan.count("bob") == 0
