"""REST endpoints of usage: the SPA's usage calls (original keys) plus summaries and the staff report.

Usage is recorded only on the server, from the model's own report (``usage.services.usage_record``); the SPA's
``POST /api/usage/update`` is accepted and answered with the current figures but records nothing.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import StrictCharField
from config.api.pagination import PageFieldsSerializer
from config.api.permissions import IsStaff, target_owner_id
from config.api.schema import error_responses
from config.clock import utcnow
from config.errors import ValidationFailed
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from usage.reports import STAFF_GROUPINGS, USER_GROUPINGS, usage_report_page, usage_summary
from usage.selectors import usage_month_by_engine_get, usage_today_get

ALL_ENGINES = "all"
REPORT_PAGE_MAX = 200


class UsageRecordSerializer(serializers.Serializer):
    """One user x UTC day x engine type, with the original's keys."""

    userId = serializers.CharField(source="user_id")
    engineType = serializers.CharField(source="engine_type")
    usageDate = serializers.CharField(source="day", help_text="UTC day, YYYY-MM-DD.")
    totalTokens = serializers.IntegerField(
        source="total_tokens", help_text="input + output + cache read + cache write."
    )
    inputTokens = serializers.IntegerField(source="input_tokens")
    outputTokens = serializers.IntegerField(source="output_tokens")
    cacheReadTokens = serializers.IntegerField(source="cache_read_tokens")
    cacheWriteTokens = serializers.IntegerField(source="cache_write_tokens")
    messageCount = serializers.IntegerField(
        source="message_count", help_text="Chat turns (title generation is counted apart)."
    )
    titleTokens = serializers.IntegerField(source="title_tokens")


class QuotaFieldsSerializer(serializers.Serializer):
    """The quota figures, read from the ``quota`` of what is rendered."""

    plan = serializers.CharField(source="quota.plan")
    limit = serializers.IntegerField(source="quota.limit", help_text="Monthly tokens of the plan.")
    used = serializers.IntegerField(source="quota.used", help_text="Tokens used this UTC month.")
    remaining = serializers.IntegerField(
        source="quota.remaining", help_text="limit - used - tokens reserved by answers in progress (>= 0)."
    )
    percentage = serializers.FloatField(
        source="quota.percentage", help_text="used / limit in percent, 0-100, one decimal."
    )
    resetsAt = serializers.DateTimeField(source="quota.resets_at", help_text="Start of the next UTC month.")


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


def _engine_type(value: str) -> str:
    if not value or len(value) > ENGINE_TYPE_MAX_CHARS:
        raise ValidationFailed(_("engineType is not valid."), code="invalid", fields={"engineType": ["Not valid."]})
    return value


class UsageDetailApi(APIView):
    # The SPA polls this about twice per streamed chunk; it costs two or three reads by key and is not throttled.
    throttle_classes: list = []

    class SingleOutputSerializer(QuotaFieldsSerializer):
        success = serializers.BooleanField(default=True)
        data = UsageRecordWithQuotaSerializer(
            source="*", help_text="Today's (UTC) record of this engine type, zeros if none."
        )

    class AllOutputSerializer(QuotaFieldsSerializer):
        success = serializers.BooleanField(default=True)
        data = serializers.DictField(
            source="by_engine",
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
        if engine_type == ALL_ENGINES:
            return Response(self.AllOutputSerializer(usage_month_by_engine_get(user_id=owner)).data)
        return Response(self.SingleOutputSerializer(usage_today_get(user_id=owner, engine_type=engine_type)).data)


class UsageUpdateApi(APIView):
    """The SPA reports its own token counts after each reply; they are ignored (the server already counted)."""

    class InputSerializer(serializers.Serializer):
        userId = StrictCharField(required=False, allow_blank=True, max_length=256)
        engineType = StrictCharField(
            required=False, max_length=ENGINE_TYPE_MAX_CHARS, help_text="Required unless given in the path."
        )

    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField(default=True)
        recorded = serializers.BooleanField(
            default=False, help_text="Always false: usage is recorded from the model's report."
        )
        usage = UsageRecordSerializer(source="record", help_text="Today's (UTC) record of the engine type.")
        tokensUsed = serializers.IntegerField(source="quota.used", help_text="Tokens used this UTC month.")
        percentage = serializers.FloatField(source="quota.percentage")
        remaining = serializers.IntegerField(source="quota.remaining")
        plan = serializers.CharField(source="quota.plan")
        limit = serializers.IntegerField(source="quota.limit")
        resetsAt = serializers.DateTimeField(source="quota.resets_at")

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
        return Response(self.OutputSerializer(usage_today_get(user_id=owner, engine_type=engine)).data)


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


class _RangeReportSerializer(serializers.Serializer):
    """The date range and grouping every usage report echoes back."""

    groupBy = serializers.CharField(source="group_by")

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # "from" is a Python keyword, so the fields are added by name.
        fields["from"] = serializers.DateField(source="start")
        fields["to"] = serializers.DateField(source="end")
        return fields


class UsageSummaryApi(APIView):
    class FilterSerializer(_RangeFilterSerializer):
        groupBy = serializers.ChoiceField(choices=USER_GROUPINGS, default="day")
        userId = serializers.CharField(required=False, max_length=256, help_text="Another user's id is staff-only.")

    class OutputSerializer(_RangeReportSerializer):
        userId = serializers.CharField(source="user_id")
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
        report = usage_summary(
            user_id=target_owner_id(request.user, params.get("userId")),
            start=params["start"],
            end=params["end"],
            group_by=params["groupBy"],
        )
        return Response(self.OutputSerializer(report).data)


class UsageReportApi(APIView):
    permission_classes = [IsStaff]

    class FilterSerializer(_RangeFilterSerializer):
        groupBy = serializers.ChoiceField(choices=STAFF_GROUPINGS, default="user")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=REPORT_PAGE_MAX, default=50)
        cursor = serializers.CharField(required=False, max_length=4096, help_text="The `next` of the previous page.")

    class OutputSerializer(_RangeReportSerializer, PageFieldsSerializer):
        totals = TotalsSerializer(help_text="Over the whole range, not only this page.")
        rows = RowSerializer(many=True, help_text="Users and engine types biggest first; days in order.")

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
        page = usage_report_page(
            start=params["start"],
            end=params["end"],
            group_by=params["groupBy"],
            limit=params["limit"],
            cursor=params.get("cursor"),
        )
        return Response(self.OutputSerializer(page).data)
