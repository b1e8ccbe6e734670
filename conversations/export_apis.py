"""``GET /api/conversations/{id}/export``: a conversation as a Markdown or JSON file, streamed.

The file is produced page by page by ``conversations.services.conversation_export`` while the response is sent,
so a long conversation is never one response object in memory.
"""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from config.api.permissions import target_owner_id
from config.api.schema import error_responses
from conversations.services import EXPORT_FORMATS, conversation_export


class _IgnoreFormatParameter(DefaultContentNegotiation):
    """``?format=`` names the export's format here, not DRF's renderer; errors still render as JSON."""

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class ConversationExportApi(APIView):
    content_negotiation_class = _IgnoreFormatParameter

    class FilterSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="md", help_text="md (default) or json.")

    @extend_schema(
        operation_id="conversations_export",
        summary="Download a conversation as Markdown or JSON (streamed)",
        description=(
            "`md`: the title, then every message in order with its role and time, its Markdown kept as is. "
            "`json`: `{conversationId, engineType, title, createdAt, updatedAt, expiresAt, messages: [{id, role, "
            "content, status, createdAt, engineType, modelId, promptRevision, stopReason, errorCode, usage, "
            "feedback}]}`. Owner only: another user's conversation is 404."
        ),
        parameters=[FilterSerializer],
        responses={
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            **error_responses(400, 404),
        },
    )
    def get(self, request: Request, conversation_id: str) -> StreamingHttpResponse:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        export = conversation_export(
            user_id=target_owner_id(request.user, None),
            conversation_id=conversation_id,
            export_format=filters.validated_data["format"],
        )
        response = StreamingHttpResponse(export.chunks, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.file_name}"'
        return response
