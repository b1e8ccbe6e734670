"""Read-only staff pages: a user's conversations and their messages, looked up by user id.

``UserConversationsEntry`` is an unmanaged placeholder; its ``view`` permission guards these pages. Reads go
through ``conversations.selectors`` and page with their opaque cursors; nothing here writes.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin

from config.admin_pages import DynamoDBAdmin
from config.clock import utcnow
from config.errors import NotFound, ValidationFailed
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from conversations.models import UserConversationsEntry
from conversations.selectors import conversation_get, conversation_list, feedback_report, message_list

CONVERSATIONS_PER_PAGE = 25
MESSAGES_PER_PAGE = 50
FEEDBACK_DEFAULT_DAYS = 30


class FeedbackFilterForm(forms.Form):
    engine_type = forms.CharField(label="Engine type", max_length=ENGINE_TYPE_MAX_CHARS, required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        data["end"] = data.get("end") or utcnow().date()
        data["start"] = data.get("start") or data["end"] - timedelta(days=FEEDBACK_DEFAULT_DAYS - 1)
        return data


@admin.register(UserConversationsEntry)
class UserConversationsAdmin(DynamoDBAdmin):
    pages = {"": "changelist_view", "conversation/": "conversation_view", "feedback/": "feedback_view"}
    permissions = frozenset({"view"})

    def changelist_view(self, request, extra_context=None):
        self.require(self.has_view_permission(request))
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
        return self.render(
            request,
            "lookup.html",
            title="A user's conversations",
            user_id=user_id,
            engine_type=engine_type,
            page=page,
            error=error,
        )

    def conversation_view(self, request):
        self.require(self.has_view_permission(request))
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
            return self.render(
                request, "conversation.html", title="Conversation", user_id=user_id, error=exc.message, http_status=404
            )
        return self.render(
            request,
            "conversation.html",
            title=conversation.title or conversation.conversation_id,
            user_id=user_id,
            conversation=conversation,
            page=page,
        )

    def feedback_view(self, request):
        """👍/👎 per engine type and prompt revision (the staff report of ``GET /api/admin/feedback``)."""
        self.require(self.has_view_permission(request))
        form = FeedbackFilterForm(request.GET)
        report, error = None, None
        if form.is_valid():
            bounds = form.cleaned_data
            try:
                report = feedback_report(
                    engine_type=bounds["engine_type"] or None, start=bounds["start"], end=bounds["end"]
                )
            except ValidationFailed as exc:
                error = exc.message
        else:
            error = "Enter valid dates."
        return self.render(
            request, "feedback.html", title="Answer feedback per prompt revision", form=form, report=report, error=error
        )
