from django.urls import path

from config.api.routing import method_view
from conversations.apis import (
    ConversationCreateApi,
    ConversationDeleteAllApi,
    ConversationDeleteApi,
    ConversationDetailApi,
    ConversationListApi,
    ConversationUpdateApi,
    MessageFeedbackApi,
)
from conversations.export_apis import ConversationExportApi
from conversations.feedback_apis import FeedbackReportApi

urlpatterns = [
    path(
        "conversations",
        method_view(get=ConversationListApi, post=ConversationCreateApi, delete=ConversationDeleteAllApi),
        name="conversations",
    ),
    path(
        "conversations/<str:conversation_id>",
        method_view(get=ConversationDetailApi, patch=ConversationUpdateApi, delete=ConversationDeleteApi),
        name="conversation",
    ),
    path(
        "conversations/<str:conversation_id>/export",
        method_view(get=ConversationExportApi),
        name="conversation-export",
    ),
    path(
        "conversations/<str:conversation_id>/messages/<str:message_id>/feedback",
        method_view(put=MessageFeedbackApi),
        name="message-feedback",
    ),
    path("admin/feedback", method_view(get=FeedbackReportApi), name="admin-feedback"),
]
