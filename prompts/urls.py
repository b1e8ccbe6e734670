from django.urls import path

from config.api_routing import method_view
from prompts.apis import (
    FileCreateApi,
    FileDeleteApi,
    FileDetailApi,
    FileListApi,
    FileUpdateApi,
    PromptCreateApi,
    PromptDeleteApi,
    PromptDetailApi,
    PromptListApi,
    PromptUpdateApi,
)

urlpatterns = [
    path("prompts", method_view(get=PromptListApi), name="prompts"),
    path(
        "prompts/<str:engine_type>",
        method_view(get=PromptDetailApi, post=PromptCreateApi, put=PromptUpdateApi, delete=PromptDeleteApi),
        name="prompt",
    ),
    path("prompts/<str:engine_type>/files", method_view(get=FileListApi, post=FileCreateApi), name="prompt-files"),
    path(
        "prompts/<str:engine_type>/files/<str:file_id>",
        method_view(get=FileDetailApi, put=FileUpdateApi, delete=FileDeleteApi),
        name="prompt-file",
    ),
]
