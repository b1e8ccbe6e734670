"""The usage dashboard and a user's usage page: chart, top users, month figures, plan changes and permissions."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import NOW, usage_spend
from usage.models import UserPlan
from usage.selectors import plan_get

DASHBOARD = "/admin/usage/usageaccount/"
TODAY = NOW.date().isoformat()
YESTERDAY = (NOW.date() - timedelta(days=1)).isoformat()

pytestmark = pytest.mark.usefixtures("plan_limits", "frozen_time")


def staff_with(*codenames):
    user = get_user_model().objects.create_user(username="-".join(codenames) or "bare", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="usage", codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer(db):
    return staff_with("view_usageaccount")


@pytest.fixture
def changer(db):
    return staff_with("view_usageaccount", "change_usageaccount")


def user_url(user_id):
    return f"{DASHBOARD}{user_id.replace(':', '_3A')}/change/"


def test_dashboard_charts_daily_tokens_per_engine_and_top_users(viewer):
    usage_spend(user_id="sub-a", engine_type="11", input_tokens=700)
    usage_spend(user_id="sub-a", engine_type="22", input_tokens=100)
    usage_spend(user_id="sub-b", engine_type="11", input_tokens=900)
    response = viewer.get(DASHBOARD, {"start": YESTERDAY, "end": TODAY})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<rect class="bar"') == 2  # one day with usage x two engine types
    assert f"{TODAY} · 11: 1,600 tokens" in page and f"{TODAY} · 22: 100 tokens" in page
    top = response.context["top_users"]
    assert [(row["user_id"], row["totals"].total_tokens) for row in top] == [("sub-b", 900), ("sub-a", 800)]
    assert 'src="http' not in page and "cdn" not in page.lower()


def test_dashboard_default_range_and_invalid_range(viewer, settings):
    assert viewer.get(DASHBOARD).status_code == 200
    assert "Enter valid dates." in viewer.get(DASHBOARD + "?start=nope").content.decode()
    settings.USAGE_REPORT_MAX_DAYS = 10
    assert "at most 10 are allowed" in viewer.get(DASHBOARD, {"start": "2026-01-01", "end": TODAY}).content.decode()


def test_lookup_redirects_to_the_users_page(viewer):
    response = viewer.get(DASHBOARD + "?user_id=local:7")
    assert response.status_code == 302 and response["Location"] == user_url("local:7")


def test_user_page_shows_month_figures_and_records(viewer):
    usage_spend(user_id="local:7", engine_type="11", input_tokens=1_234)
    response = viewer.get(user_url("local:7"))
    assert response.status_code == 200
    assert response.context["status"].used == 1_234
    assert [r.day_engine for r in response.context["records"]] == [f"{TODAY}#11"]
    assert "You can view usage but not change plans." in response.content.decode()


def test_plan_change_is_stored_and_audited(changer):
    response = changer.post(user_url("sub-a"), {"plan": "premium"})
    assert response.status_code == 302
    assert plan_get(user_id="sub-a") == "premium"
    assert UserPlan.get("sub-a").updated_by == "view_usageaccount-change_usageaccount"
    entry = LogEntry.objects.get(object_id="sub-a")
    assert entry.get_change_message() == "Changed plan from free to premium."
    page = changer.get(user_url("sub-a")).content.decode()
    assert "Changed plan from free to premium." in page and 'id="plan">premium<' in page


def test_invalid_plan_is_refused(changer):
    response = changer.post(user_url("sub-a"), {"plan": "platinum"})
    assert response.status_code == 200 and response.context["plan_form"].errors
    assert plan_get(user_id="sub-a") == "free"


def test_view_only_staff_cannot_change_plans(viewer):
    assert viewer.post(user_url("sub-a"), {"plan": "premium"}).status_code == 403
    assert plan_get(user_id="sub-a") == "free"


def test_staff_without_usage_permissions_and_non_staff_are_refused(db, user):
    bare = staff_with()
    assert bare.get(DASHBOARD).status_code == 403
    assert bare.get(user_url("sub-a")).status_code == 403
    client = Client()
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 302  # to the admin login
    assert client.post(user_url("sub-a"), {"plan": "premium"}).status_code == 302
    assert plan_get(user_id="sub-a") == "free"
