"""Usage and plans in the Django admin, over DynamoDB data.

``UsageAccount`` is an unmanaged placeholder that gives the pages their URLs and permissions (view = read
usage; change = change a user's plan). The list page is a dashboard (daily tokens per engine type as an inline
SVG chart, top users) with a lookup by user id; a user's page shows the month's figures and daily records and
changes the plan through ``usage.services.plan_set``, leaving a ``LogEntry`` (who, from, to) for the audit.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _

from config.admin_pages import DynamoDBAdmin
from config.clock import iso_z, utcnow
from config.errors import ApplicationError
from usage.charts import daily_tokens_svg, engine_colours
from usage.models import UsageAccount
from usage.plans import PLANS, plan_limit
from usage.reports import usage_overview
from usage.selectors import plan_get, usage_month_get
from usage.services import plan_set

TOP_USERS = 20
DEFAULT_CHART_DAYS = 30
PLAN_HISTORY_ENTRIES = 20


class RangeForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        today = utcnow().date()
        data["end"] = data.get("end") or today
        data["start"] = data.get("start") or data["end"] - timedelta(days=DEFAULT_CHART_DAYS - 1)
        return data


class LookupForm(forms.Form):
    user_id = forms.CharField(label="User id", max_length=200, help_text="A Cognito sub, or local:<pk>.")


class PlanForm(forms.Form):
    plan = forms.ChoiceField(choices=[(plan, f"{plan} ({plan_limit(plan):,} tokens/month)") for plan in PLANS])


@admin.register(UsageAccount)
class UsageAccountAdmin(DynamoDBAdmin):
    pages = {"": "changelist_view", "<str:object_id>/change/": "change_view"}
    permissions = frozenset({"view", "change"})

    def changelist_view(self, request, extra_context=None):
        self.require(self.has_view_or_change_permission(request))
        lookup = LookupForm(request.GET if "user_id" in request.GET else None)
        if lookup.is_valid():
            return HttpResponseRedirect(self.page_url("change", lookup.cleaned_data["user_id"].strip()))
        range_form = RangeForm(request.GET)
        chart = top_users = error = None
        engines: list[str] = []
        if not range_form.is_valid():
            error = "Enter valid dates."
        else:
            bounds = range_form.cleaned_data
            try:
                overview = usage_overview(start=bounds["start"], end=bounds["end"])
            except ApplicationError as exc:
                error = exc.message
            else:
                engines = overview.engines
                chart = daily_tokens_svg(overview.days, overview.engines, overview.cells)
                top_users = [
                    {"user_id": row.key, "url": self.page_url("change", row.key), "totals": row.totals}
                    for row in overview.users.rows[:TOP_USERS]
                ]
                range_form = RangeForm(initial=bounds)
        return self.render(
            request,
            "dashboard.html",
            title="Usage and plans",
            range_form=range_form,
            lookup_form=lookup if lookup.is_bound else LookupForm(),
            chart=chart,
            legend=list(engine_colours(engines).items()),
            top_users=top_users,
            error=error,
            **(extra_context or {}),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user_id = unquote(object_id)
        self.require(self.has_view_or_change_permission(request))
        can_change = self.has_change_permission(request)
        form = PlanForm(initial={"plan": None})
        if request.method == "POST":
            self.require(can_change)
            form = PlanForm(request.POST)
            if form.is_valid():
                self._plan_change(request, user_id, form.cleaned_data["plan"])
                return HttpResponseRedirect(self.page_url("change", user_id))
        month = usage_month_get(user_id=user_id)
        if not form.is_bound:
            form = PlanForm(initial={"plan": month.status.plan})
        return self.render(
            request,
            "user.html",
            title=f"Usage of {user_id}",
            user_id=user_id,
            status=month.status,
            resets_at=iso_z(month.status.resets_at),
            month=month.bucket,
            engine_buckets=month.engine_buckets,
            records=month.records,
            plan_form=form,
            can_change=can_change,
            history=self._plan_history(user_id),
            **(extra_context or {}),
        )

    def _plan_change(self, request, user_id: str, plan: str) -> None:
        before = plan_get(user_id=user_id)
        plan_set(user_id=user_id, plan=plan, changed_by=request.user.get_username())
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=[UsageAccount(user_id=user_id)],
            action_flag=CHANGE,
            change_message=f"Changed plan from {before} to {plan}.",
            single_object=True,
        )
        changed = _("Plan of %(user)s changed from %(before)s to %(after)s.")
        messages.success(request, changed % {"user": user_id, "before": before, "after": plan})

    def _plan_history(self, user_id: str):
        content_type = ContentType.objects.get_for_model(UsageAccount, for_concrete_model=False)
        return (
            LogEntry.objects.filter(content_type=content_type, object_id=user_id)
            .select_related("user")
            .order_by("-action_time")[:PLAN_HISTORY_ENTRIES]
        )
