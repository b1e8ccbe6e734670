"""REST endpoints of usage: the SPA's usage calls (original keys) plus summaries and the staff report.

Usage is recorded only on the server, from the model's own report (``usage.services.usage_record``); the SPA's
``POST /api/usage/update`` is accepted and answered with the current figures but records nothing.
"""

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import cursor_decode, cursor_encode
from config.api.permissions import IsStaff, target_owner_id
from config.api.schema import error_responses
from config.clock import iso_z, utcnow
from config.errors import ValidationFailed
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from usage.models import DailyUsage
from usage.reports import STAFF_GROUPINGS, USER_GROUPINGS, Report, usage_report, usage_summary
from usage.selectors import QuotaStatus, quota_status, usage_daily_list, usage_day_get

ALL_ENGINES = "all"
REPORT_PAGE_DEFAULT = 50
REPORT_PAGE_MAX = 200


class UsageRecordSerializer(serializers.Serializer):
    """One user x UTC day x engine type, with the original's keys."""

    userId = serializers.CharField()
    engineType = serializers.CharField()
    usageDate = serializers.CharField(help_text="UTC day, YYYY-MM-DD.")
    totalTokens = serializers.IntegerField(help_text="input + output + cache read + cache write.")
    inputTokens = serializers.IntegerField()
    outputTokens = serializers.IntegerField()
    cacheReadTokens = serializers.IntegerField()
    cacheWriteTokens = serializers.IntegerField()
    messageCount = serializers.IntegerField(help_text="Chat turns (title generation is counted apart).")
    titleTokens = serializers.IntegerField()


class QuotaFieldsSerializer(serializers.Serializer):
    plan = serializers.CharField()
    limit = serializers.IntegerField(help_text="Monthly tokens of the plan.")
    used = serializers.IntegerField(help_text="Tokens used this UTC month.")
    remaining = serializers.IntegerField(help_text="limit - used - tokens reserved by answers in progress (>= 0).")
    percentage = serializers.FloatField(help_text="used / limit in percent, 0-100, one decimal.")
    resetsAt = serializers.CharField(help_text="Start of the next UTC month (ISO 8601).")


class UsageRecordWithQuotaSerializer(UsageRecordSerializer, QuotaFieldsSerializer):
    pass


class TotalsSerializer(serializers.Serializer):
    inputTokens = serializers.IntegerField(source="input_tokens")
    outputTokens = serializers.IntegerField(source="output_tokens")
    cacheReadTokens = serializers.IntegerField(source="cache_read_tokens")
    cacheWriteTokens = serializers.IntegerField(source="cache_write_tokens")
    totalTokens = serializers.IntegerField(source="total_tokens")
    messageCount = serializers.IntegerField(source="message_count")
    titleCount = serializers.IntegerField(source="title_count")
    titleTokens = serializers.IntegerField(source="title_tokens")
    estimatedCount = serializers.IntegerField(source="estimated_count", help_text="Records with estimated tokens.")
    costUsd = serializers.CharField(source="cost_usd", help_text="Exact decimal string, USD.")


class RowSerializer(TotalsSerializer):
    key = serializers.CharField(help_text="The day, engine type or user id of this row (see groupBy).")

    def to_representation(self, instance: Any) -> dict:
        return {"key": instance.key, **TotalsSerializer(instance.totals).data}


def _record(*, user_id: str, engine_type: str, day: str, item: DailyUsage | None) -> dict[str, Any]:
    def value(name: str) -> int:
        return int(getattr(item, name)) if item is not None else 0

    return {
        "userId": user_id,
        "engineType": engine_type,
        "usageDate": day,
        "totalTokens": value("total_tokens"),
        "inputTokens": value("input_tokens"),
        "outputTokens": value("output_tokens"),
        "cacheReadTokens": value("cache_read_tokens"),
        "cacheWriteTokens": value("cache_write_tokens"),
        "messageCount": value("message_count"),
        "titleTokens": value("title_tokens"),
    }


def _quota_fields(status: QuotaStatus) -> dict[str, Any]:
    return {
        "plan": status.plan,
        "limit": status.limit,
        "used": status.used,
        "remaining": status.remaining,
        "percentage": status.percentage,
        "resetsAt": iso_z(status.resets_at),
    }


def _engine_type(value: str) -> str:
    if not value or len(value) > ENGINE_TYPE_MAX_CHARS:
        raise ValidationFailed("engineType is not valid.", code="invalid", fields={"engineType": ["Not valid."]})
    return value


class UsageDetailApi(APIView):
    # The SPA polls this about twice per streamed chunk; it costs two or three reads by key and is not throttled.
    throttle_classes: list = []

    class SingleOutputSerializer(QuotaFieldsSerializer):
        success = serializers.BooleanField()
        data = UsageRecordWithQuotaSerializer(help_text="Today's (UTC) record of this engine type, zeros if none.")

    class AllOutputSerializer(QuotaFieldsSerializer):
        success = serializers.BooleanField()
        data = serializers.DictField(
            child=UsageRecordSerializer(many=True),
            help_text="This month's daily records per engine type, newest first.",
        )

    @extend_schema(
        operation_id="usage_get",
        summary="A user's usage today for an engine type (or `all`: this month per engine type), with the plan",
        responses={
            200: PolymorphicProxySerializer(
                component_name="UsageDetailOutput",
                serializers=[SingleOutputSerializer, AllOutputSerializer],
                resource_type_field_name=None,
            ),
            **error_responses(400, 403),
        },
    )
    def get(self, request: Request, user_id: str, engine_type: str) -> Response:
        owner = target_owner_id(request.user, user_id)
        engine_type = _engine_type(engine_type)
        now = utcnow()
        quota = _quota_fields(quota_status(user_id=owner, at=now))
        if engine_type == ALL_ENGINES:
            first_of_month = now.date().replace(day=1)
            by_engine: dict[str, list[dict]] = {}
            for item in reversed(usage_daily_list(user_id=owner, start=first_of_month, end=now.date())):
                by_engine.setdefault(item.engine_type, []).append(
                    _record(user_id=owner, engine_type=item.engine_type, day=item.day, item=item)
                )
            return Response(self.AllOutputSerializer({"success": True, "data": by_engine, **quota}).data)
        day = now.date().isoformat()
        item = usage_day_get(user_id=owner, day=day, engine_type=engine_type)
        data = {**_record(user_id=owner, engine_type=engine_type, day=day, item=item), **quota}
        return Response(self.SingleOutputSerializer({"success": True, "data": data, **quota}).data)


class UsageUpdateApi(APIView):
    """The SPA reports its own token counts after each reply; they are ignored (the server already counted)."""

    class InputSerializer(serializers.Serializer):
        userId = serializers.CharField(required=False, allow_blank=True, max_length=256)
        engineType = serializers.CharField(
            required=False, max_length=ENGINE_TYPE_MAX_CHARS, help_text="Required unless given in the path."
        )

    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField()
        recorded = serializers.BooleanField(help_text="Always false: usage is recorded from the model's report.")
        usage = UsageRecordSerializer(help_text="Today's (UTC) record of the engine type.")
        tokensUsed = serializers.IntegerField(help_text="Tokens used this UTC month.")
        percentage = serializers.FloatField()
        remaining = serializers.IntegerField()
        plan = serializers.CharField()
        limit = serializers.IntegerField()
        resetsAt = serializers.CharField()

    @extend_schema(
        operation_id="usage_update",
        summary="Accepted for the SPA's sake; records nothing and returns the current figures",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403)},
    )
    def post(self, request: Request, user_id: str | None = None, engine_type: str | None = None) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        serializer = self.InputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        owner = target_owner_id(request.user, user_id or serializer.validated_data.get("userId"))
        engine = _engine_type(engine_type or serializer.validated_data.get("engineType") or "")
        now = utcnow()
        status = quota_status(user_id=owner, at=now)
        day = now.date().isoformat()
        usage = _record(
            user_id=owner, engine_type=engine, day=day, item=usage_day_get(user_id=owner, day=day, engine_type=engine)
        )
        data = {
            "success": True,
            "recorded": False,
            "usage": usage,
            "tokensUsed": status.used,
            "percentage": status.percentage,
            "remaining": status.remaining,
            "plan": status.plan,
            "limit": status.limit,
            "resetsAt": iso_z(status.resets_at),
        }
        return Response(self.OutputSerializer(data).data)


class _RangeFilterSerializer(serializers.Serializer):
    to = serializers.DateField(required=False, help_text="Last UTC day (inclusive), YYYY-MM-DD; default today.")

    def validate(self, attrs: dict) -> dict:
        today = utcnow().date()
        start = attrs.pop("from", None) or today.replace(day=1)
        return {**attrs, "start": start, "end": attrs.pop("to", None) or today}

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "from" is a Python keyword, so the field is added by name.
        fields["from"] = serializers.DateField(
            required=False, help_text="First UTC day (inclusive), YYYY-MM-DD; default the 1st of this month."
        )
        return fields


def _report_body(report: Report) -> dict[str, Any]:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "groupBy": report.group_by,
        "totals": TotalsSerializer(report.totals).data,
    }


class _RangeReportSerializer(serializers.Serializer):
    """The date range and grouping every usage report echoes back."""

    groupBy = serializers.CharField()

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "from" is a Python keyword, so the fields are added by name.
        fields["from"] = serializers.CharField()
        fields["to"] = serializers.CharField()
        return fields


class UsageSummaryApi(APIView):
    class FilterSerializer(_RangeFilterSerializer):
        groupBy = serializers.ChoiceField(choices=USER_GROUPINGS, default="day")
        userId = serializers.CharField(required=False, max_length=256, help_text="Another user's id is staff-only.")

    class OutputSerializer(_RangeReportSerializer):
        userId = serializers.CharField()
        totals = TotalsSerializer()
        rows = RowSerializer(many=True)

    @extend_schema(
        operation_id="usage_summary",
        summary="The caller's usage over a date range (at most USAGE_REPORT_MAX_DAYS days), by day or engine type",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        owner = target_owner_id(request.user, params.get("userId"))
        report = usage_summary(user_id=owner, start=params["start"], end=params["end"], group_by=params["groupBy"])
        body = {"userId": owner, **_report_body(report), "rows": RowSerializer(report.rows, many=True).data}
        return Response(body)


class UsageReportApi(APIView):
    permission_classes = [IsStaff]

    class FilterSerializer(_RangeFilterSerializer):
        groupBy = serializers.ChoiceField(choices=STAFF_GROUPINGS, default="user")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=REPORT_PAGE_MAX, default=50)
        cursor = serializers.CharField(required=False, max_length=4096, help_text="The `next` of the previous page.")

    class OutputSerializer(_RangeReportSerializer):
        totals = TotalsSerializer(help_text="Over the whole range, not only this page.")
        rows = RowSerializer(many=True, help_text="Users and engine types biggest first; days in order.")
        count = serializers.IntegerField(help_text="Rows in this page.")
        next = serializers.CharField(allow_null=True, help_text="Cursor of the next page; null on the last.")

    @extend_schema(
        operation_id="admin_usage_report",
        summary="Staff: everyone's usage over a date range, grouped by user, engine type or day, paged",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        query = {"from": params["start"].isoformat(), "to": params["end"].isoformat(), "groupBy": params["groupBy"]}
        offset = _report_offset(params.get("cursor"), query)
        report = usage_report(start=params["start"], end=params["end"], group_by=params["groupBy"])
        page = report.rows[offset : offset + params["limit"]]
        following = offset + len(page)
        next_cursor = cursor_encode({**query, "offset": following}) if following < len(report.rows) else None
        body = {
            **_report_body(report),
            "rows": RowSerializer(page, many=True).data,
            "count": len(page),
            "next": next_cursor,
        }
        return Response(body)


def _report_offset(cursor: str | None, query: dict[str, str]) -> int:
    """A report is aggregated in memory, so its cursor is a signed offset bound to the same query."""
    decoded = cursor_decode(cursor)
    if decoded is None:
        return 0
    offset = decoded.pop("offset", None)
    if decoded != query or not isinstance(offset, int) or offset < 0:
        raise ValidationFailed("The cursor belongs to another query.", code="invalid_cursor")
    return offset
