"""REST API of usage: the SPA's usage calls, summaries and the staff report (usage/apis.py)."""

import pytest
from rest_framework.test import APIClient

from config.auth.identity import owner_id
from tests.factories import usage_spend
from usage.services import plan_set

pytestmark = pytest.mark.usefixtures("frozen_time", "plan_limits")


@pytest.fixture(autouse=True)
def _report_range(settings):
    settings.USAGE_REPORT_MAX_DAYS = 366


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def alice_usage(user):
    uid = owner_id(user)
    usage_spend(user_id=uid, input_tokens=1_000, output_tokens=234)
    usage_spend(user_id=uid, input_tokens=100, output_tokens=50, kind="title")
    usage_spend(user_id=uid, engine_type="22", input_tokens=10, output_tokens=20)
    return uid


def test_owner_reads_todays_record_with_plan_figures(user, alice_usage):
    response = client_for(user).get(f"/api/usage/{alice_usage}/11")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    quota = {"plan": "free", "limit": 10_000, "used": 1_414, "remaining": 8_586, "percentage": 14.1}
    assert body["data"] == {
        "userId": alice_usage,
        "engineType": "11",
        "usageDate": "2026-11-15",
        "totalTokens": 1_384,
        "inputTokens": 1_100,
        "outputTokens": 284,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
        "messageCount": 1,
        "titleTokens": 150,
        **quota,
        "resetsAt": "2026-12-01T00:00:00Z",
    }
    assert {key: body[key] for key in quota} == quota


def test_unused_engine_reads_as_zeros(user, alice_usage):
    data = client_for(user).get(f"/api/usage/{alice_usage}/33").json()["data"]
    assert (data["totalTokens"], data["messageCount"], data["usageDate"]) == (0, 0, "2026-11-15")


def test_all_groups_this_months_records_by_engine(user, alice_usage):
    body = client_for(user).get(f"/api/usage/{alice_usage}/all").json()
    assert sorted(body["data"]) == ["11", "22"]
    assert [r["totalTokens"] for r in body["data"]["22"]] == [30]
    assert body["percentage"] == 14.1


def test_other_users_usage_is_forbidden_staff_may_read_it(user, other_user, staff_user, alice_usage):
    refused = client_for(other_user).get(f"/api/usage/{alice_usage}/11")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client_for(staff_user).get(f"/api/usage/{alice_usage}/11").json()["data"]["totalTokens"] == 1_384


def test_anonymous_is_refused_everywhere(alice_usage):
    anonymous = client_for()
    for method, url in (
        ("get", f"/api/usage/{alice_usage}/11"),
        ("post", "/api/usage/update"),
        ("post", "/api/usage"),
        ("get", "/api/usage/summary"),
        ("get", "/api/admin/usage"),
    ):
        response = getattr(anonymous, method)(url, format="json")
        assert response.status_code in (401, 403), url
        assert response.json()["code"] == "not_authenticated", url


def test_client_usage_report_records_nothing(user, alice_usage):
    body = {
        "userId": alice_usage,
        "engineType": "11",
        "inputText": "x" * 5000,
        "outputText": "y",
        "userPlan": "premium",
    }
    for url in ("/api/usage/update", "/api/usage", f"/api/usage/{alice_usage}/11"):
        response = client_for(user).post(url, body, format="json")
        assert response.status_code == 200, url
        answer = response.json()
        assert answer["recorded"] is False and answer["success"] is True
        assert (answer["tokensUsed"], answer["remaining"], answer["percentage"]) == (1_414, 8_586, 14.1)
        assert answer["plan"] == "free"  # the client's userPlan is ignored
        assert answer["usage"]["totalTokens"] == 1_384
    assert client_for(user).get(f"/api/usage/{alice_usage}/11").json()["data"]["used"] == 1_414


def test_client_usage_report_for_someone_else_is_forbidden(user, other_user, alice_usage):
    response = client_for(other_user).post(
        "/api/usage/update", {"userId": alice_usage, "engineType": "11"}, format="json"
    )
    assert response.status_code == 403
    missing_engine = client_for(user).post("/api/usage/update", {}, format="json")
    assert missing_engine.status_code == 400 and missing_engine.json()["code"] == "invalid"


def test_plan_shows_up_in_the_figures(user, alice_usage):
    plan_set(user_id=alice_usage, plan="premium", changed_by="staff")
    data = client_for(user).get(f"/api/usage/{alice_usage}/11").json()["data"]
    assert (data["plan"], data["limit"], data["percentage"]) == ("premium", 500_000, 0.3)


def test_summary_by_day_and_engine(user, alice_usage):
    by_engine = client_for(user).get("/api/usage/summary?from=2026-11-01&to=2026-11-30&groupBy=engineType").json()
    assert [(row["key"], row["totalTokens"]) for row in by_engine["rows"]] == [("11", 1_384), ("22", 30)]
    assert by_engine["totals"]["totalTokens"] == 1_414
    assert by_engine["totals"]["titleCount"] == 1 and by_engine["totals"]["messageCount"] == 2
    # (1110*0.003 + 304*0.015) / 1000
    assert by_engine["totals"]["costUsd"] == "0.00789"
    by_day = client_for(user).get("/api/usage/summary").json()  # default: this month up to today
    assert (by_day["from"], by_day["to"], by_day["groupBy"]) == ("2026-11-01", "2026-11-15", "day")
    assert [(row["key"], row["totalTokens"]) for row in by_day["rows"]] == [("2026-11-15", 1_414)]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2026-11-10&to=2026-11-01", "invalid_range"),
        ("from=2025-01-01&to=2026-11-01", "range_too_large"),
        ("from=yesterday", "invalid"),
        ("groupBy=user", "invalid"),
    ],
)
def test_summary_validates_the_range(user, query, code):
    response = client_for(user).get(f"/api/usage/summary?{query}")
    assert response.status_code == 400 and response.json()["code"] == code


def test_summary_of_another_user_is_staff_only(user, other_user, staff_user, alice_usage):
    assert client_for(other_user).get(f"/api/usage/summary?userId={alice_usage}").status_code == 403
    staff = client_for(staff_user).get(f"/api/usage/summary?userId={alice_usage}").json()
    assert staff["totals"]["totalTokens"] == 1_414


def test_staff_report_pages_top_users(user, other_user, staff_user, alice_usage):
    usage_spend(user_id=owner_id(other_user), engine_type="22", input_tokens=3_000, output_tokens=1_000)
    usage_spend(user_id="cognito-sub-3", input_tokens=1, output_tokens=1)
    staff = client_for(staff_user)
    first = staff.get("/api/admin/usage?from=2026-11-01&to=2026-11-30&groupBy=user&limit=2").json()
    assert [(r["key"], r["totalTokens"]) for r in first["rows"]] == [
        (owner_id(other_user), 4_000),
        (alice_usage, 1_414),
    ]
    assert first["count"] == 2 and first["totals"]["totalTokens"] == 5_416
    second = staff.get(f"/api/admin/usage?from=2026-11-01&to=2026-11-30&groupBy=user&limit=2&cursor={first['next']}")
    assert [r["key"] for r in second.json()["rows"]] == ["cognito-sub-3"] and second.json()["next"] is None
    other_query = staff.get(f"/api/admin/usage?from=2026-11-02&to=2026-11-30&groupBy=user&cursor={first['next']}")
    assert other_query.status_code == 400 and other_query.json()["code"] == "invalid_cursor"
    by_engine = staff.get("/api/admin/usage?from=2026-11-15&to=2026-11-15&groupBy=engineType").json()
    assert [(r["key"], r["totalTokens"]) for r in by_engine["rows"]] == [("22", 4_030), ("11", 1_386)]
    by_day = staff.get("/api/admin/usage?from=2026-11-14&to=2026-11-15&groupBy=day").json()
    assert [(r["key"], r["totalTokens"]) for r in by_day["rows"]] == [("2026-11-15", 5_416)]


def test_staff_report_is_staff_only_and_bounded(user, staff_user):
    refused = client_for(user).get("/api/admin/usage")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    too_long = client_for(staff_user).get("/api/admin/usage?from=2024-01-01&to=2026-11-01")
    assert too_long.status_code == 400 and too_long.json()["code"] == "range_too_large"


def test_polling_is_not_throttled(user, alice_usage, settings):
    settings.API_READ_THROTTLE_RATE = "5/min"
    client = client_for(user)
    statuses = {client.get(f"/api/usage/{alice_usage}/11").status_code for _ in range(20)}
    assert statuses == {200}


def test_an_engine_alias_reads_the_real_engine_record(user, alice_usage, settings):
    settings.USAGE_ENGINE_ALIASES = {"C1": "11", "C2": "22"}
    one = client_for(user).get(f"/api/usage/{alice_usage}/C1").json()["data"]
    assert (one["engineType"], one["totalTokens"], one["messageCount"]) == ("11", 1_384, 1)
    two = client_for(user).get(f"/api/usage/{alice_usage}/C2").json()["data"]
    assert (two["engineType"], two["totalTokens"]) == ("22", 30)
    update = client_for(user).post(f"/api/usage/{alice_usage}/C1", {}, format="json").json()
    assert update["usage"]["totalTokens"] == 1_384


def test_without_an_alias_an_unknown_id_still_reads_as_zeros(user, alice_usage, settings):
    settings.USAGE_ENGINE_ALIASES = {}
    assert client_for(user).get(f"/api/usage/{alice_usage}/C1").json()["data"]["totalTokens"] == 0
