"""Everything under /api/."""

from django.urls import include, path

urlpatterns = [
    path("", include("conversations.urls")),
    path("", include("prompts.urls")),
    path("", include("usage.urls")),
]
