from django.urls import path

from config.api.routing import method_view
from prompts.apis import (
    EngineTypeDeleteApi,
    EngineTypeDetailApi,
    EngineTypeListApi,
    EngineTypeUpsertApi,
    FileCreateApi,
    FileDeleteApi,
    FileDetailApi,
    FileListApi,
    FileUpdateApi,
)

urlpatterns = [
    path("prompts", method_view(get=EngineTypeListApi), name="prompts"),
    path(
        "prompts/<str:engine_type>",
        method_view(
            get=EngineTypeDetailApi, post=EngineTypeUpsertApi, put=EngineTypeUpsertApi, delete=EngineTypeDeleteApi
        ),
        name="prompt",
    ),
    path("prompts/<str:engine_type>/files", method_view(get=FileListApi, post=FileCreateApi), name="prompt-files"),
    path(
        "prompts/<str:engine_type>/files/<str:file_id>",
        method_view(get=FileDetailApi, put=FileUpdateApi, delete=FileDeleteApi),
        name="prompt-file",
    ),
]
