"""Read-only staff pages: a user's conversations and their messages, looked up by user id.

``UserConversationsEntry`` is an unmanaged placeholder; its ``view`` permission guards these pages. Reads go
through ``conversations.selectors`` and page with their opaque cursors; nothing here writes.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from config.errors import NotFound, ValidationFailed
from conversations.models import UserConversationsEntry
from conversations.selectors import conversation_get, conversation_list, message_list

CONVERSATIONS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50


@admin.register(UserConversationsEntry)
class UserConversationsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name=f"{info}_changelist"),
            path("conversation/", wrap(self.conversation_view), name=f"{info}_conversation"),
        ]

    def _render(self, request, template: str, *, status: int = 200, **context):
        request.current_app = self.admin_site.name
        context = {**self.admin_site.each_context(request), "opts": self.opts, "subtitle": None, **context}
        return TemplateResponse(
            request, f"admin/conversations/userconversationsentry/{template}", context, status=status
        )

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        user_id = request.GET.get("user_id", "").strip()
        engine_type = request.GET.get("engine_type", "").strip()
        page, error = None, None
        if user_id:
            try:
                page = conversation_list(
                    user_id=user_id,
                    engine_type=engine_type or None,
                    limit=CONVERSATIONS_PER_PAGE,
                    cursor=request.GET.get("cursor") or None,
                )
            except ValidationFailed as exc:
                error = exc.message
        return self._render(
            request,
            "lookup.html",
            title="A user's conversations",
            user_id=user_id,
            engine_type=engine_type,
            page=page,
            error=error,
        )

    def conversation_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        user_id = request.GET.get("user_id", "")
        conversation_id = request.GET.get("conversation_id", "")
        try:
            conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
            page = message_list(
                user_id=user_id,
                conversation_id=conversation_id,
                limit=MESSAGES_PER_PAGE,
                cursor=request.GET.get("cursor") or None,
            )
        except (NotFound, ValidationFailed) as exc:
            return self._render(
                request, "conversation.html", title="Conversation", user_id=user_id, error=exc.message, status=404
            )
        return self._render(
            request,
            "conversation.html",
            title=conversation.title or conversation.conversation_id,
            user_id=user_id,
            conversation=conversation,
            page=page,
        )
