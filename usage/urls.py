from django.urls import path

from config.api.routing import method_view
from usage.apis import UsageDetailApi, UsageReportApi, UsageSummaryApi, UsageUpdateApi

urlpatterns = [
    path("usage", method_view(post=UsageUpdateApi), name="usage"),
    path("usage/update", method_view(post=UsageUpdateApi), name="usage-update"),
    path("usage/summary", method_view(get=UsageSummaryApi), name="usage-summary"),
    path(
        "usage/<str:user_id>/<str:engine_type>",
        method_view(get=UsageDetailApi, post=UsageUpdateApi),
        name="usage-detail",
    ),
    path("admin/usage", method_view(get=UsageReportApi), name="admin-usage"),
]
