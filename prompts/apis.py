"""REST endpoints of engine types (prompts) and their knowledge files, with the original SPA's paths and keys.

Every authenticated user reads what picking an engine needs (id, name, description). The instruction, the
model settings and the knowledge files are the system prompt: only staff see or change them.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import StrictCharField
from config.api.permissions import IsStaff
from config.api.schema import error_responses
from config.errors import ValidationFailed
from prompts.selectors import engine_type_detail_get, engine_type_list, knowledge_file_get
from prompts.services import (
    RETENTION_DAYS_MAX,
    engine_type_delete,
    engine_type_upsert,
    knowledge_file_add,
    knowledge_file_delete,
    knowledge_file_update,
)


class EngineTypeOutputSerializer(serializers.Serializer):
    """An engine type. Fields marked staff-only are left out unless the context says ``staff``."""

    STAFF_ONLY = (
        "instruction",
        "modelId",
        "temperature",
        "topP",
        "maxTokens",
        "active",
        "revision",
        "version",
        "createdAt",
        "updatedAt",
        "updatedBy",
    )

    promptId = serializers.CharField(source="engine_type", help_text="Same as engineType.")
    engineType = serializers.CharField(source="engine_type")
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True)
    retentionDays = serializers.IntegerField(
        source="retention_days",
        default=0,
        help_text="Days a conversation is kept after its last message (0 = forever); shown to everybody.",
    )
    instruction = serializers.CharField(allow_blank=True, required=False, help_text="Staff only.")
    modelId = serializers.CharField(source="model_id", allow_null=True, required=False, help_text="Staff only.")
    temperature = serializers.FloatField(allow_null=True, required=False, help_text="Staff only.")
    topP = serializers.FloatField(source="top_p", allow_null=True, required=False, help_text="Staff only.")
    maxTokens = serializers.IntegerField(source="max_tokens", allow_null=True, required=False, help_text="Staff only.")
    active = serializers.BooleanField(required=False, help_text="Staff only.")
    revision = serializers.IntegerField(required=False, help_text="Staff only.")
    version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Staff only; send it back as `version` to detect edit conflicts."
    )
    createdAt = serializers.DateTimeField(source="created_at", required=False, help_text="Staff only.")
    updatedAt = serializers.DateTimeField(source="updated_at", required=False, help_text="Staff only.")
    updatedBy = serializers.CharField(source="updated_by", allow_null=True, required=False, help_text="Staff only.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("staff"):
            for name in self.STAFF_ONLY:
                data.pop(name, None)
        return data


class KnowledgeFileSerializer(serializers.Serializer):
    promptId = serializers.CharField(source="engine_type")
    fileId = serializers.CharField(source="file_id")
    fileName = serializers.CharField(source="file_name")
    fileContent = serializers.CharField(source="content", allow_blank=True)
    contentType = serializers.CharField(source="content_type")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    charCount = serializers.IntegerField(source="char_count")
    position = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


def _staff(request: Request) -> dict[str, bool]:
    return {"staff": bool(request.user.is_staff)}


class EngineTypeListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        prompts = EngineTypeOutputSerializer(many=True)  # documents every field; staff-only ones optional

    @extend_schema(
        operation_id="prompts_list",
        summary="Engine types (staff: every field, inactive ones too)",
        responses={200: OutputSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        context = _staff(request)
        prompts = engine_type_list(include_inactive=context["staff"])
        return Response(self.OutputSerializer({"prompts": prompts}, context=context).data)


class EngineTypeDetailApi(APIView):
    class OutputSerializer(serializers.Serializer):
        prompt = EngineTypeOutputSerializer(source="engine_type")
        files = KnowledgeFileSerializer(many=True, help_text="Staff only; always empty for everybody else.")

    @extend_schema(
        operation_id="prompts_retrieve",
        summary="An engine type and (staff) its knowledge files",
        responses={200: OutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, engine_type: str) -> Response:
        context = _staff(request)
        detail = engine_type_detail_get(engine_type=engine_type, for_staff=context["staff"])
        return Response(self.OutputSerializer(detail, context=context).data)


class ProbabilityField(serializers.FloatField):
    """0..1, kept to 4 decimals: DynamoDB numbers cannot hold magnitudes below 1e-130 (e.g. 9.7e-215)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=1, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        return round(super().to_internal_value(data), 4)


class EngineTypeUpsertApi(APIView):
    """POST and PUT are the same upsert (the SPA's admin panel uses both): 201 if it created, else 200."""

    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        name = StrictCharField(required=False, allow_blank=True, max_length=100)
        description = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
        instruction = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
        modelId = StrictCharField(
            source="model_id",
            required=False,
            allow_blank=True,
            allow_null=True,
            max_length=200,
            help_text="Empty or null: the default.",
        )
        temperature = ProbabilityField(required=False, allow_null=True)
        topP = ProbabilityField(source="top_p", required=False, allow_null=True)
        maxTokens = serializers.IntegerField(source="max_tokens", required=False, allow_null=True, min_value=1)
        active = serializers.BooleanField(required=False)
        retentionDays = serializers.IntegerField(
            source="retention_days",
            required=False,
            min_value=0,
            max_value=RETENTION_DAYS_MAX,
            help_text="Days a conversation is kept after its last message; 0 = forever. Applies at each "
            "conversation's next message.",
        )
        version = serializers.IntegerField(
            source="expected_version",
            required=False,
            min_value=1,
            help_text="The version you read; the save fails with 409 if it changed.",
        )

    class OutputSerializer(serializers.Serializer):
        message = serializers.SerializerMethodField()
        promptId = serializers.CharField(source="engine_type")
        prompt = EngineTypeOutputSerializer(source="*")

        def get_message(self, engine_type: Any) -> str:
            return "Prompt created successfully" if self.context["created"] else "Prompt updated successfully"

    def _upsert(self, request: Request, engine_type: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved, created = engine_type_upsert(
            engine_type=engine_type, updated_by=request.user.get_username(), **serializer.validated_data
        )
        body = self.OutputSerializer(saved, context={"staff": True, "created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    _responses = {200: OutputSerializer, 201: OutputSerializer, **error_responses(400, 403, 404, 409)}

    @extend_schema(
        operation_id="prompts_create",
        summary="Create an engine type, or change the given fields of an existing one (staff)",
        request=InputSerializer,
        responses=_responses,
    )
    def post(self, request: Request, engine_type: str) -> Response:
        return self._upsert(request, engine_type)

    @extend_schema(
        operation_id="prompts_update",
        summary="Change the given fields of an engine type, creating it if missing (staff)",
        request=InputSerializer,
        responses=_responses,
    )
    def put(self, request: Request, engine_type: str) -> Response:
        return self._upsert(request, engine_type)


class ResultSerializer(serializers.Serializer):
    message = serializers.CharField()


class EngineTypeDeleteApi(APIView):
    permission_classes = [IsStaff]

    class OutputSerializer(ResultSerializer):
        promptId = serializers.CharField()

    @extend_schema(
        operation_id="prompts_delete",
        summary="Delete an engine type and its knowledge files (staff)",
        responses={200: OutputSerializer, **error_responses(403, 404, 409)},
    )
    def delete(self, request: Request, engine_type: str) -> Response:
        engine_type_delete(engine_type=engine_type)
        return Response(self.OutputSerializer({"message": "Prompt deleted successfully", "promptId": engine_type}).data)


class FileListApi(APIView):
    permission_classes = [IsStaff]

    class OutputSerializer(serializers.Serializer):
        files = KnowledgeFileSerializer(many=True)

    @extend_schema(
        operation_id="prompt_files_list",
        summary="Knowledge files of an engine type, in system-prompt order (staff)",
        responses={200: OutputSerializer, **error_responses(403, 404)},
    )
    def get(self, request: Request, engine_type: str) -> Response:
        return Response(self.OutputSerializer(engine_type_detail_get(engine_type=engine_type, for_staff=True)).data)


class FileEnvelopeSerializer(serializers.Serializer):
    file = KnowledgeFileSerializer(source="*")


class FileCreateApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        fileName = StrictCharField(source="file_name", required=False, default="untitled.txt", max_length=200)
        fileContent = StrictCharField(source="content", allow_blank=True, trim_whitespace=False)

    @extend_schema(
        operation_id="prompt_files_create",
        summary="Add a plain-text knowledge file (staff)",
        request=InputSerializer,
        responses={201: FileEnvelopeSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, engine_type: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        knowledge_file = knowledge_file_add(
            engine_type=engine_type, created_by=request.user.get_username(), **serializer.validated_data
        )
        return Response(FileEnvelopeSerializer(knowledge_file).data, status=status.HTTP_201_CREATED)


class FileDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompt_files_retrieve",
        summary="One knowledge file (staff)",
        responses={200: FileEnvelopeSerializer, **error_responses(403, 404)},
    )
    def get(self, request: Request, engine_type: str, file_id: str) -> Response:
        return Response(FileEnvelopeSerializer(knowledge_file_get(engine_type=engine_type, file_id=file_id)).data)


class FileUpdateApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        fileName = StrictCharField(source="file_name", required=False, max_length=200)
        fileContent = StrictCharField(source="content", required=False, allow_blank=True, trim_whitespace=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs:
                raise ValidationFailed(_("Give fileName and/or fileContent."), code="no_fields")
            return attrs

    class OutputSerializer(FileEnvelopeSerializer):
        message = serializers.CharField(default="File updated successfully")

    @extend_schema(
        operation_id="prompt_files_update",
        summary="Rename a knowledge file and/or replace its text (staff)",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def put(self, request: Request, engine_type: str, file_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        knowledge_file = knowledge_file_update(
            engine_type=engine_type,
            file_id=file_id,
            updated_by=request.user.get_username(),
            **serializer.validated_data,
        )
        return Response(self.OutputSerializer(knowledge_file).data)


class FileDeleteApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompt_files_delete",
        summary="Delete a knowledge file (staff)",
        responses={200: ResultSerializer, **error_responses(403, 404)},
    )
    def delete(self, request: Request, engine_type: str, file_id: str) -> Response:
        knowledge_file_delete(engine_type=engine_type, file_id=file_id, updated_by=request.user.get_username())
        return Response(ResultSerializer({"message": "File deleted successfully"}).data)
