"""The staff report of answer feedback per engine type and prompt revision (``GET /api/admin/feedback``).

Every assistant message records the engine type's ``revision`` that produced it, and its feedback copies it, so
staff can see whether a prompt edit made answers better or worse. The same report is an admin page
(``conversations/admin.py``), linked from the usage dashboard.
"""

from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.permissions import IsStaff
from config.api.schema import error_responses
from config.clock import utcnow
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from conversations.selectors import feedback_report

REPORT_DEFAULT_SPAN = timedelta(days=29)  # with `to`, 30 days


class _CommentSerializer(serializers.Serializer):
    rating = serializers.CharField()
    comment = serializers.CharField()
    ratedAt = serializers.DateTimeField(source="rated_at")
    modelId = serializers.CharField(source="model_id", allow_null=True)
    conversationId = serializers.CharField(source="conversation_id")
    messageId = serializers.CharField(source="message_id")


class _EngineRowSerializer(serializers.Serializer):
    engineType = serializers.CharField(source="engine_type")
    up = serializers.IntegerField(source="tally.up")
    down = serializers.IntegerField(source="tally.down")


class _RevisionRowSerializer(serializers.Serializer):
    engineType = serializers.CharField(source="engine_type")
    revision = serializers.IntegerField(allow_null=True, help_text="The engine type's revision that answered.")
    up = serializers.IntegerField(source="tally.up")
    down = serializers.IntegerField(source="tally.down")
    comments = _CommentSerializer(many=True, help_text="Newest first, at most 100 per revision.")


class FeedbackReportApi(APIView):
    permission_classes = [IsStaff]

    class FilterSerializer(serializers.Serializer):
        engineType = serializers.CharField(required=False, max_length=ENGINE_TYPE_MAX_CHARS)
        to = serializers.DateField(required=False, help_text="Last UTC day (inclusive); default today.")

        def get_fields(self) -> dict:
            fields = super().get_fields()
            # "from" is a Python keyword, so the field is added by name.
            fields["from"] = serializers.DateField(
                required=False, help_text="First UTC day (inclusive); default 30 days before `to`."
            )
            return fields

    class OutputSerializer(serializers.Serializer):
        engineType = serializers.CharField(source="engine_type", allow_null=True)
        engines = _EngineRowSerializer(many=True, source="engine_rows", help_text="Per engine type, by id.")
        revisions = _RevisionRowSerializer(many=True)

        def get_fields(self) -> dict:
            fields = super().get_fields()
            fields["from"] = serializers.DateField(source="start")
            fields["to"] = serializers.DateField(source="end")
            return fields

    @extend_schema(
        operation_id="admin_feedback_report",
        summary="Staff: 👍/👎 counts and comments per engine type and per prompt revision over a date range",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        end = params.get("to") or utcnow().date()
        start = params.get("from") or end - REPORT_DEFAULT_SPAN
        report = feedback_report(engine_type=params.get("engineType"), start=start, end=end)
        return Response(self.OutputSerializer(report).data)
