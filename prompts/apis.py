"""REST endpoints of engine types (prompts) and their knowledge files, with the original SPA's paths and keys.

Every authenticated user reads what picking an engine needs (id, name, description). The instruction, the
model settings and the knowledge files are the system prompt: only staff see or change them.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.permissions import IsStaff
from config.api.schema import error_responses
from config.errors import NotFound, ValidationFailed
from prompts.models import EngineType
from prompts.selectors import engine_type_get, engine_type_list, knowledge_file_get, knowledge_file_list
from prompts.services import (
    ENGINE_TYPE_RE,
    engine_type_delete,
    engine_type_upsert,
    knowledge_file_add,
    knowledge_file_delete,
    knowledge_file_update,
)

FILE_ID_MAX_CHARS = 64


def _checked_engine_type(engine_type: str) -> str:
    if not ENGINE_TYPE_RE.fullmatch(engine_type):
        raise NotFound("Engine type not found", code="engine_type_not_found")
    return engine_type


def _visible_engine_type(request: Request, engine_type: str) -> EngineType:
    prompt = engine_type_get(engine_type=_checked_engine_type(engine_type))
    if not prompt.active and not request.user.is_staff:
        raise NotFound("Engine type not found", code="engine_type_not_found")
    return prompt


def _checked_file_id(file_id: str) -> str:
    if len(file_id) > FILE_ID_MAX_CHARS:
        raise NotFound("File not found", code="file_not_found")
    return file_id


class EngineTypeOutputSerializer(serializers.Serializer):
    """An engine type. Fields marked staff-only are left out for everybody else."""

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

    def __init__(self, *args: Any, staff: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not staff:
            for name in self.STAFF_ONLY:
                self.fields.pop(name)


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


class EngineTypeListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        prompts = EngineTypeOutputSerializer(many=True, staff=True)  # documents every field; staff-only ones optional

    @extend_schema(
        operation_id="prompts_list",
        summary="Engine types (staff: every field, inactive ones too)",
        responses={200: OutputSerializer, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        staff = bool(request.user.is_staff)
        prompts = engine_type_list(include_inactive=staff)
        return Response({"prompts": EngineTypeOutputSerializer(prompts, many=True, staff=staff).data})


class EngineTypeDetailApi(APIView):
    class OutputSerializer(serializers.Serializer):
        prompt = EngineTypeOutputSerializer(staff=True)
        files = KnowledgeFileSerializer(many=True, help_text="Staff only; always empty for everybody else.")

    @extend_schema(
        operation_id="prompts_retrieve",
        summary="An engine type and (staff) its knowledge files",
        responses={200: OutputSerializer, **error_responses(404)},
    )
    def get(self, request: Request, engine_type: str) -> Response:
        prompt = _visible_engine_type(request, engine_type)
        staff = bool(request.user.is_staff)
        files = knowledge_file_list(engine_type=prompt.engine_type) if staff else []
        return Response(
            {
                "prompt": EngineTypeOutputSerializer(prompt, staff=staff).data,
                "files": KnowledgeFileSerializer(files, many=True).data,
            }
        )


class ProbabilityField(serializers.FloatField):
    """0..1, kept to 4 decimals: DynamoDB numbers cannot hold magnitudes below 1e-130 (e.g. 9.7e-215)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=1, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        return round(super().to_internal_value(data), 4)


class EngineTypeInputSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    instruction = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    modelId = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, help_text="Empty or null: the default."
    )
    temperature = ProbabilityField(required=False, allow_null=True)
    topP = ProbabilityField(required=False, allow_null=True)
    maxTokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    active = serializers.BooleanField(required=False)
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="The version you read; the save fails with 409 if it changed."
    )

    FIELD_NAMES = {"modelId": "model_id", "topP": "top_p", "maxTokens": "max_tokens"}

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        data.pop("version", None)
        return {self.FIELD_NAMES.get(name, name): value for name, value in data.items()}


class EngineTypeSaveOutputSerializer(serializers.Serializer):
    message = serializers.CharField()
    promptId = serializers.CharField()
    prompt = EngineTypeOutputSerializer(staff=True)


def _engine_type_save(request: Request, engine_type: str) -> tuple[EngineType, bool]:
    serializer = EngineTypeInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return engine_type_upsert(
        engine_type=_checked_engine_type(engine_type),
        expected_version=serializer.validated_data.get("version"),
        updated_by=request.user.get_username(),
        **serializer.service_fields(),
    )


def _engine_type_saved(prompt: EngineType, created: bool) -> Response:
    data = {
        "message": "Prompt created successfully" if created else "Prompt updated successfully",
        "promptId": prompt.engine_type,
        "prompt": EngineTypeOutputSerializer(prompt, staff=True).data,
    }
    return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class EngineTypeCreateApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompts_create",
        summary="Create an engine type, or change the given fields of an existing one (staff)",
        request=EngineTypeInputSerializer,
        responses={
            200: EngineTypeSaveOutputSerializer,
            201: EngineTypeSaveOutputSerializer,
            **error_responses(400, 403, 404, 409),
        },
    )
    def post(self, request: Request, engine_type: str) -> Response:
        return _engine_type_saved(*_engine_type_save(request, engine_type))


class EngineTypeUpdateApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompts_update",
        summary="Change the given fields of an engine type, creating it if missing (staff)",
        request=EngineTypeInputSerializer,
        responses={
            200: EngineTypeSaveOutputSerializer,
            201: EngineTypeSaveOutputSerializer,
            **error_responses(400, 403, 404, 409),
        },
    )
    def put(self, request: Request, engine_type: str) -> Response:
        return _engine_type_saved(*_engine_type_save(request, engine_type))


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
        engine_type_delete(engine_type=_checked_engine_type(engine_type))
        return Response({"message": "Prompt deleted successfully", "promptId": engine_type})


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
        prompt = engine_type_get(engine_type=_checked_engine_type(engine_type))
        files = knowledge_file_list(engine_type=prompt.engine_type)
        return Response({"files": KnowledgeFileSerializer(files, many=True).data})


class FileEnvelopeSerializer(serializers.Serializer):
    file = KnowledgeFileSerializer()


class FileCreateApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        fileName = serializers.CharField(required=False, default="untitled.txt", max_length=200)
        fileContent = serializers.CharField(allow_blank=True, trim_whitespace=False)

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
            engine_type=_checked_engine_type(engine_type),
            file_name=serializer.validated_data["fileName"],
            content=serializer.validated_data["fileContent"],
            created_by=request.user.get_username(),
        )
        return Response({"file": KnowledgeFileSerializer(knowledge_file).data}, status=status.HTTP_201_CREATED)


class FileDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompt_files_retrieve",
        summary="One knowledge file (staff)",
        responses={200: FileEnvelopeSerializer, **error_responses(403, 404)},
    )
    def get(self, request: Request, engine_type: str, file_id: str) -> Response:
        knowledge_file = knowledge_file_get(
            engine_type=_checked_engine_type(engine_type), file_id=_checked_file_id(file_id)
        )
        return Response({"file": KnowledgeFileSerializer(knowledge_file).data})


class FileUpdateApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        fileName = serializers.CharField(required=False, max_length=200)
        fileContent = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class OutputSerializer(FileEnvelopeSerializer):
        message = serializers.CharField()

    @extend_schema(
        operation_id="prompt_files_update",
        summary="Rename a knowledge file and/or replace its text (staff)",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def put(self, request: Request, engine_type: str, file_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "fileName" not in data and "fileContent" not in data:
            raise ValidationFailed("Give fileName and/or fileContent.", code="no_fields")
        knowledge_file = knowledge_file_update(
            engine_type=_checked_engine_type(engine_type),
            file_id=_checked_file_id(file_id),
            file_name=data.get("fileName"),
            content=data.get("fileContent"),
            updated_by=request.user.get_username(),
        )
        return Response({"message": "File updated successfully", "file": KnowledgeFileSerializer(knowledge_file).data})


class FileDeleteApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="prompt_files_delete",
        summary="Delete a knowledge file (staff)",
        responses={200: ResultSerializer, **error_responses(403, 404)},
    )
    def delete(self, request: Request, engine_type: str, file_id: str) -> Response:
        knowledge_file_delete(
            engine_type=_checked_engine_type(engine_type),
            file_id=_checked_file_id(file_id),
            updated_by=request.user.get_username(),
        )
        return Response({"message": "File deleted successfully"})
