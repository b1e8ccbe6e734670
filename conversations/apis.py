"""REST endpoints of conversations, with the original SPA's paths and keys (docs/rest-api.md).

The owner id always comes from the credentials; a ``userId`` in the query or body is checked by
``config.api.permissions.target_owner_id`` (the caller's own, or anyone's for staff). Another user's conversation
is simply not in the caller's key space, so it is reported as not found.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.pagination import cursor_decode
from config.api.permissions import target_owner_id
from config.api.schema import error_responses
from config.errors import NotFound, ValidationFailed
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from conversations.ids import CONVERSATION_ID_RE, is_valid_conversation_id, message_key
from conversations.models import Conversation, Message
from conversations.selectors import conversation_get, conversation_list, message_list
from conversations.services import (
    conversation_create,
    conversation_delete,
    conversation_messages_import,
    conversation_rename,
)

TITLE_MAX_CHARS = 200
IMPORT_MAX_MESSAGES = 1000
MESSAGES_PAGE_DEFAULT = 200
MESSAGES_PAGE_MAX = 500


def _checked_cursor(cursor: str | None, *, partition: tuple[str, str], foreign: str | None = None) -> str | None:
    """A cursor is signed, but may come from another list: DynamoDB refuses a start key of another partition.

    ``partition`` is the (attribute, value) the list queries; ``foreign`` an attribute only other lists' keys hold.
    """
    start = cursor_decode(cursor)
    if start is None:
        return None
    attribute, value = partition
    if start.get(attribute) != {"S": value} or (foreign is not None and foreign in start):
        raise ValidationFailed("The cursor does not belong to this list.", code="invalid_cursor")
    return cursor


def _checked_conversation_id(conversation_id: str) -> str:
    if not is_valid_conversation_id(conversation_id):
        raise NotFound("Conversation not found", code="conversation_not_found")
    return conversation_id


class MessageSerializer(serializers.Serializer):
    id = serializers.CharField(source="message_id")
    role = serializers.CharField()
    type = serializers.CharField(source="role", help_text="Same as role (the original SPA reads either).")
    content = serializers.CharField()
    timestamp = serializers.DateTimeField(source="created_at")
    status = serializers.CharField(help_text="complete | stopped | error")
    modelId = serializers.CharField(source="model_id", allow_null=True)
    stopReason = serializers.CharField(source="stop_reason", allow_null=True)
    errorCode = serializers.CharField(source="error_code", allow_null=True)
    inputTokens = serializers.IntegerField(source="input_tokens", allow_null=True)
    outputTokens = serializers.IntegerField(source="output_tokens", allow_null=True)


class ConversationSummarySerializer(serializers.Serializer):
    conversationId = serializers.CharField(source="conversation_id")
    userId = serializers.CharField(source="user_id")
    engineType = serializers.CharField(source="engine_type")
    title = serializers.CharField(allow_blank=True)
    messageCount = serializers.IntegerField(source="message_count")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


class ConversationDetailSerializer(ConversationSummarySerializer):
    messages = MessageSerializer(many=True, help_text="The latest page of messages, oldest first.")
    messagesNext = serializers.CharField(
        source="messages_next",
        allow_null=True,
        help_text="Cursor of the page of older messages (pass as messagesCursor); null if none.",
    )


@dataclass
class _ConversationWithMessages:
    """A conversation and one page of its messages, as the detail serializers read it."""

    conversation: Conversation
    messages: list[Message]
    messages_next: str | None
    message: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conversation, name)


def _with_messages(conversation: Conversation, *, limit: int, cursor: str | None = None) -> _ConversationWithMessages:
    page = message_list(
        user_id=conversation.user_id,
        conversation_id=conversation.conversation_id,
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return _ConversationWithMessages(conversation, page.items[::-1], page.next_cursor)


class ConversationListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        engineType = serializers.CharField(required=False, max_length=ENGINE_TYPE_MAX_CHARS)
        engine = serializers.CharField(
            required=False, max_length=ENGINE_TYPE_MAX_CHARS, help_text="Alias of engineType."
        )
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
        cursor = serializers.CharField(required=False, max_length=4096, help_text="The `next` of the previous page.")
        userId = serializers.CharField(
            required=False, max_length=256, help_text="Ignored if it is the caller; another user's id is staff-only."
        )

    class OutputSerializer(serializers.Serializer):
        conversations = ConversationSummarySerializer(many=True)
        count = serializers.IntegerField(help_text="Number of conversations in this page.")
        next = serializers.CharField(allow_null=True, help_text="Cursor of the next page; null on the last.")

    @extend_schema(
        operation_id="conversations_list",
        summary="List conversations, most recently updated first",
        parameters=[FilterSerializer],
        responses={200: OutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        user_id = target_owner_id(request.user, params.get("userId"))
        engine_type = params.get("engineType") or params.get("engine")
        if engine_type:
            cursor = _checked_cursor(params.get("cursor"), partition=("user_engine", f"{user_id}#{engine_type}"))
        else:
            cursor = _checked_cursor(params.get("cursor"), partition=("user_id", user_id), foreign="user_engine")
        page = conversation_list(user_id=user_id, engine_type=engine_type, limit=params["limit"], cursor=cursor)
        data = {"conversations": page.items, "count": len(page.items), "next": page.next_cursor}
        return Response(self.OutputSerializer(data).data)


class ConversationCreateApi(APIView):
    class MessageInputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=["user", "assistant"], required=False)
        type = serializers.ChoiceField(choices=["user", "assistant"], required=False, help_text="Alias of role.")
        content = serializers.CharField(allow_blank=True, trim_whitespace=False)
        timestamp = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=64)

        def validate(self, attrs: dict) -> dict:
            role = attrs.get("role") or attrs.get("type")
            if role is None:
                raise serializers.ValidationError({"role": ["Give the role (or type): user or assistant."]})
            return {**attrs, "role": role}

    class InputSerializer(serializers.Serializer):
        conversationId = serializers.RegexField(
            CONVERSATION_ID_RE.pattern, required=False, help_text="Client-made id (e.g. 11_1732600000000)."
        )
        engineType = serializers.CharField(max_length=ENGINE_TYPE_MAX_CHARS, default="11")
        title = serializers.CharField(required=False, allow_blank=True, max_length=TITLE_MAX_CHARS)
        userId = serializers.CharField(required=False, max_length=256)
        messages = serializers.ListField(required=False, max_length=IMPORT_MAX_MESSAGES, default=list)

        def validate_messages(self, value: list) -> list:
            serializer = ConversationCreateApi.MessageInputSerializer(data=value, many=True)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data

    class OutputSerializer(ConversationDetailSerializer):
        message = serializers.CharField(help_text="'Conversation created' or 'Conversation already exists'.")

    @extend_schema(
        operation_id="conversations_create",
        summary="Create a conversation (idempotent on conversationId)",
        description=(
            "A new id creates the conversation and stores the body's `messages` in order (201). "
            "An existing id changes nothing — the body's `messages` are neither stored nor duplicated (200)."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, 201: OutputSerializer, **error_responses(400, 403)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user_id = target_owner_id(request.user, data.get("userId"))
        conversation, created = conversation_create(
            user_id=user_id,
            engine_type=data["engineType"],
            conversation_id=data.get("conversationId"),
            title=data.get("title", "").strip(),
        )
        if not created:
            result = _with_messages(conversation, limit=MESSAGES_PAGE_DEFAULT)
            result.message = "Conversation already exists"
            return Response(self.OutputSerializer(result).data, status=status.HTTP_200_OK)
        conversation_messages_import(
            conversation=conversation,
            messages=[
                (m["role"], m["content"][: settings.CHAT_MAX_MESSAGE_CHARS], _timestamp(m.get("timestamp")))
                for m in data["messages"]
            ],
        )
        result = _with_messages(conversation, limit=MESSAGES_PAGE_DEFAULT)
        result.message = "Conversation created"
        return Response(self.OutputSerializer(result).data, status=status.HTTP_201_CREATED)


def _timestamp(value: str | None) -> datetime | None:
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


class _OwnerQuerySerializer(serializers.Serializer):
    userId = serializers.CharField(
        required=False, max_length=256, help_text="Ignored if it is the caller; another user's id is staff-only."
    )


class ConversationDetailApi(APIView):
    class FilterSerializer(_OwnerQuerySerializer):
        messagesLimit = serializers.IntegerField(
            required=False, min_value=1, max_value=MESSAGES_PAGE_MAX, default=MESSAGES_PAGE_DEFAULT
        )
        messagesCursor = serializers.CharField(
            required=False, max_length=4096, help_text="The messagesNext of a previous answer: older messages."
        )

    @extend_schema(
        operation_id="conversations_retrieve",
        summary="A conversation with its latest messages",
        parameters=[FilterSerializer],
        responses={200: ConversationDetailSerializer, **error_responses(400, 403, 404)},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        conversation = conversation_get(
            user_id=target_owner_id(request.user, params.get("userId")),
            conversation_id=_checked_conversation_id(conversation_id),
        )
        cursor = _checked_cursor(
            params.get("messagesCursor"),
            partition=("conversation_key", message_key(conversation.user_id, conversation.conversation_id)),
        )
        result = _with_messages(conversation, limit=params["messagesLimit"], cursor=cursor)
        return Response(ConversationDetailSerializer(result).data)


class ConversationUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=TITLE_MAX_CHARS)
        userId = serializers.CharField(required=False, max_length=256)

    class OutputSerializer(ConversationSummarySerializer):
        message = serializers.CharField()

    @extend_schema(
        operation_id="conversations_rename",
        summary="Rename a conversation",
        parameters=[_OwnerQuerySerializer],
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def patch(self, request: Request, conversation_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        claimed = serializer.validated_data.get("userId") or request.query_params.get("userId")
        conversation = conversation_rename(
            user_id=target_owner_id(request.user, claimed),
            conversation_id=_checked_conversation_id(conversation_id),
            title=serializer.validated_data["title"],
        )
        result = _ConversationWithMessages(conversation, [], None, message="Conversation updated")
        return Response(self.OutputSerializer(result).data)


class ConversationDeleteApi(APIView):
    class OutputSerializer(serializers.Serializer):
        message = serializers.CharField()
        conversationId = serializers.CharField()

    @extend_schema(
        operation_id="conversations_delete",
        summary="Delete a conversation and all of its messages",
        parameters=[_OwnerQuerySerializer],
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def delete(self, request: Request, conversation_id: str) -> Response:
        query = _OwnerQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversation_delete(
            user_id=target_owner_id(request.user, query.validated_data.get("userId")),
            conversation_id=_checked_conversation_id(conversation_id),
        )
        data = {"message": "Conversation deleted", "conversationId": conversation_id}
        return Response(self.OutputSerializer(data).data)
