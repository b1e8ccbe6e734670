"""The plumbing shared by admin pages over DynamoDB items.

Django's admin only knows ORM models, so each app registers an unmanaged placeholder model (no table) that
gives its pages URLs, permissions and a content type for the history (``LogEntry``). A ``DynamoDBAdmin``
declares those pages as ``pages = {url_suffix: view_method_name}``, lists which of the placeholder's
permissions can be granted at all (``permissions``), and renders from ``admin/<app_label>/<model_name>/``.
"""

from typing import ClassVar

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

VIEW_SUFFIX = "_view"


class DynamoDBAdmin(admin.ModelAdmin):
    # A page's URL is named "<app_label>_<model_name>_<view method name without "_view">".
    pages: ClassVar[dict[str, str]] = {}
    # Permissions outside this set are never granted, whatever the account holds, so no link offers them.
    permissions: ClassVar[frozenset[str]] = frozenset({"view", "add", "change", "delete"})

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(suffix, wrap(getattr(self, view)), name=self._url_name(view.removesuffix(VIEW_SUFFIX)))
            for suffix, view in self.pages.items()
        ]

    def has_add_permission(self, request) -> bool:
        return "add" in self.permissions and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return "change" in self.permissions and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return "delete" in self.permissions and super().has_delete_permission(request, obj)

    @staticmethod
    def require(allowed: bool) -> None:
        """Refuse the request (403) unless ``allowed``."""
        if not allowed:
            raise PermissionDenied

    def page_url(self, page: str, *args: str) -> str:
        """The URL of one of ``pages`` by its name (``"change"`` for ``change_view``), with quoted arguments."""
        return reverse(f"admin:{self._url_name(page)}", args=[quote(arg) for arg in args])

    def page_context(self, request, **extra) -> dict:
        """What every admin page's template expects (site header, ``opts``…), plus ``extra``."""
        return {**self.admin_site.each_context(request), "opts": self.opts, "subtitle": None, **extra}

    def render(self, request, template: str, *, http_status: int = 200, **context) -> TemplateResponse:
        """``admin/<app_label>/<model_name>/<template>`` with ``page_context`` (``status`` is free for it)."""
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            f"admin/{self.opts.app_label}/{self.opts.model_name}/{template}",
            self.page_context(request, **context),
            status=http_status,
        )

    def _url_name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"
