"""REST endpoints of conversations, with the original SPA's paths and keys (docs/rest-api.md).

The owner id always comes from the credentials; a ``userId`` in the query or body is checked by
``config.api.permissions.target_owner_id`` (the caller's own, or anyone's for staff). Another user's conversation
is simply not in the caller's key space, so it is reported as not found.
"""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.fields import StrictCharField, StrictRegexField
from config.api.pagination import PageFieldsSerializer
from config.api.permissions import target_owner_id
from config.api.schema import error_responses
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from conversations.ids import CONVERSATION_ID_RE
from conversations.models import TITLE_MAX_CHARS
from conversations.selectors import (
    conversation_list,
    conversation_search,
    conversation_with_messages,
)
from conversations.services import (
    FEEDBACK_COMMENT_MAX_CHARS,
    FEEDBACK_RATINGS,
    conversation_delete,
    conversation_delete_all,
    conversation_detail_recovered,
    conversation_import,
    conversation_rename,
    feedback_set,
)

IMPORT_MAX_MESSAGES = 1000
MESSAGES_PAGE_DEFAULT = 200
MESSAGES_PAGE_MAX = 500


class FeedbackSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=FEEDBACK_RATINGS)
    comment = serializers.CharField(allow_null=True)
    ratedAt = serializers.DateTimeField(source="rated_at")


class MessageSerializer(serializers.Serializer):
    """A ``Message``; its ``feedback`` comes from the root serializer's context (``feedback`` by message id)."""

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
    feedback = serializers.SerializerMethodField(help_text="The owner's rating of an answer; null if none.")

    @extend_schema_field(FeedbackSerializer(allow_null=True))
    def get_feedback(self, message: Any) -> dict | None:
        feedback = self.context.get("feedback", {}).get(message.message_id)
        return FeedbackSerializer(feedback).data if feedback is not None else None


class ConversationSummarySerializer(serializers.Serializer):
    conversationId = serializers.CharField(source="conversation_id")
    userId = serializers.CharField(source="user_id")
    engineType = serializers.CharField(source="engine_type")
    title = serializers.CharField(allow_blank=True)
    messageCount = serializers.IntegerField(source="message_count")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    expiresAt = serializers.DateTimeField(
        source="expires_at",
        allow_null=True,
        help_text="When the retention of its engine type deletes it (moved on by every turn); null = kept.",
    )


class ConversationDetailSerializer(ConversationSummarySerializer):
    """A ``conversations.selectors.ConversationWithMessages``."""

    messages = MessageSerializer(many=True, help_text="The latest page of messages, oldest first.")
    messagesNext = serializers.CharField(
        source="messages_next",
        allow_null=True,
        help_text="Cursor of the page of older messages (pass as messagesCursor); null if none.",
    )

    def to_representation(self, instance: Any) -> dict:
        self.context["feedback"] = instance.feedback  # read by the nested MessageSerializer
        return super().to_representation(instance)


class ConversationListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        engineType = serializers.CharField(required=False, max_length=ENGINE_TYPE_MAX_CHARS)
        engine = serializers.CharField(
            required=False, max_length=ENGINE_TYPE_MAX_CHARS, help_text="Alias of engineType."
        )
        limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)
        cursor = serializers.CharField(required=False, max_length=4096, help_text="The `next` of the previous page.")
        q = serializers.CharField(
            required=False,
            max_length=TITLE_MAX_CHARS,
            help_text="Only titles containing this text (case-insensitive, NFKC-normalised). A page may hold "
            "fewer than `limit` matches while `next` is set: keep paging.",
        )
        userId = serializers.CharField(
            required=False, max_length=256, help_text="Ignored if it is the caller; another user's id is staff-only."
        )

    class OutputSerializer(PageFieldsSerializer):
        conversations = ConversationSummarySerializer(many=True, source="items")

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
        query = {
            "user_id": target_owner_id(request.user, params.get("userId")),
            "engine_type": params.get("engineType") or params.get("engine"),
            "limit": params["limit"],
            "cursor": params.get("cursor"),
        }
        page = conversation_search(text=params["q"], **query) if params.get("q") else conversation_list(**query)
        return Response(self.OutputSerializer(page).data)


class ConversationDeleteAllApi(APIView):
    class OutputSerializer(serializers.Serializer):
        message = serializers.CharField(default="Conversations deleted")
        deleted = serializers.IntegerField(help_text="How many conversations were deleted.")

    @extend_schema(
        operation_id="conversations_delete_all",
        summary="Delete all of the caller's conversations, with their messages and feedback",
        responses={200: OutputSerializer, **error_responses()},
    )
    def delete(self, request: Request) -> Response:
        deleted = conversation_delete_all(user_id=target_owner_id(request.user, None))
        return Response(self.OutputSerializer({"deleted": deleted}).data)


def _timestamp(value: str | None) -> datetime | None:
    """The client's timestamp of an imported message, if it is a valid aware one (else the server's time)."""
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


class ConversationCreateApi(APIView):
    class MessageInputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=["user", "assistant"], required=False)
        type = serializers.ChoiceField(choices=["user", "assistant"], required=False, help_text="Alias of role.")
        content = StrictCharField(allow_blank=True, trim_whitespace=False)
        timestamp = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=64)

        def validate(self, attrs: dict) -> tuple[str, str, datetime | None]:
            role = attrs.get("role") or attrs.get("type")
            if role is None:
                raise serializers.ValidationError({"role": [_("Give the role (or type): user or assistant.")]})
            return role, attrs["content"][: settings.CHAT_MAX_MESSAGE_CHARS], _timestamp(attrs.get("timestamp"))

    class InputSerializer(serializers.Serializer):
        conversationId = StrictRegexField(
            CONVERSATION_ID_RE.pattern,
            required=False,
            refusal_code="invalid_conversation_id",
            help_text="Client-made id (e.g. 11_1732600000000).",
        )
        engineType = StrictCharField(max_length=ENGINE_TYPE_MAX_CHARS, default="11")
        title = StrictCharField(required=False, allow_blank=True, max_length=TITLE_MAX_CHARS, default="")
        userId = StrictCharField(required=False, max_length=256)
        messages = serializers.ListField(required=False, max_length=IMPORT_MAX_MESSAGES, default=list)

        def validate_messages(self, value: list) -> list:
            serializer = ConversationCreateApi.MessageInputSerializer(data=value, many=True)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data

    class OutputSerializer(ConversationDetailSerializer):
        message = serializers.SerializerMethodField(
            help_text="'Conversation created' or 'Conversation already exists'."
        )

        def get_message(self, conversation: Any) -> str:
            return "Conversation created" if self.context["created"] else "Conversation already exists"

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
        conversation, created = conversation_import(
            user_id=target_owner_id(request.user, data.get("userId")),
            engine_type=data["engineType"],
            conversation_id=data.get("conversationId"),
            title=data["title"],
            messages=data["messages"],
        )
        detail = conversation_with_messages(conversation=conversation, limit=MESSAGES_PAGE_DEFAULT)
        body = self.OutputSerializer(detail, context={"created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


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
        detail = conversation_detail_recovered(  # recovers a dead worker's turn first (docs/deployment.md)
            user_id=target_owner_id(request.user, params.get("userId")),
            conversation_id=conversation_id,
            messages_limit=params["messagesLimit"],
            messages_cursor=params.get("messagesCursor"),
        )
        return Response(ConversationDetailSerializer(detail).data)


class ConversationUpdateApi(APIView):
    class InputSerializer(serializers.Serializer):
        title = StrictCharField(max_length=TITLE_MAX_CHARS)
        userId = StrictCharField(required=False, max_length=256)

    class OutputSerializer(ConversationSummarySerializer):
        message = serializers.CharField(default="Conversation updated")

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
            conversation_id=conversation_id,
            title=serializer.validated_data["title"],
        )
        return Response(self.OutputSerializer(conversation).data)


class ConversationDeleteApi(APIView):
    class OutputSerializer(serializers.Serializer):
        message = serializers.CharField(default="Conversation deleted")
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
            user_id=target_owner_id(request.user, query.validated_data.get("userId")), conversation_id=conversation_id
        )
        return Response(self.OutputSerializer({"conversationId": conversation_id}).data)


class MessageFeedbackApi(APIView):
    class InputSerializer(serializers.Serializer):
        rating = serializers.ChoiceField(choices=FEEDBACK_RATINGS, allow_null=True, help_text="null clears it.")
        comment = StrictCharField(
            required=False, allow_blank=True, allow_null=True, max_length=FEEDBACK_COMMENT_MAX_CHARS
        )

    class OutputSerializer(serializers.Serializer):
        conversationId = serializers.CharField()
        messageId = serializers.CharField()
        feedback = FeedbackSerializer(allow_null=True)

    @extend_schema(
        operation_id="conversations_message_feedback",
        summary="Rate an answer 👍/👎 (null clears the rating)",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 404)},
    )
    def put(self, request: Request, conversation_id: str, message_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        feedback = feedback_set(
            user_id=target_owner_id(request.user, None),
            conversation_id=conversation_id,
            message_id=message_id,
            rating=serializer.validated_data["rating"],
            comment=serializer.validated_data.get("comment"),
        )
        body = {"conversationId": conversation_id, "messageId": message_id, "feedback": feedback}
        return Response(self.OutputSerializer(body).data)
