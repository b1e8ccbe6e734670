from django.urls import path

from config.api.routing import method_view
from conversations.apis import (
    ConversationCreateApi,
    ConversationDeleteApi,
    ConversationDetailApi,
    ConversationListApi,
    ConversationUpdateApi,
)

urlpatterns = [
    path("conversations", method_view(get=ConversationListApi, post=ConversationCreateApi), name="conversations"),
    path(
        "conversations/<str:conversation_id>",
        method_view(get=ConversationDetailApi, patch=ConversationUpdateApi, delete=ConversationDeleteApi),
        name="conversation",
    ),
]
