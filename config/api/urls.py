"""Everything under /api/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.api.me import MeApi
from config.api.routing import method_view

urlpatterns = [
    path("", include("conversations.urls")),
    path("", include("prompts.urls")),
    path("", include("usage.urls")),
    path("me", method_view(get=MeApi), name="me"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
