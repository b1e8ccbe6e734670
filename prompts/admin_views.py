"""The engine-type admin's own pages beyond Django's stock ones: the system-prompt preview and the knowledge files.

Reads go through ``prompts.selectors``, writes through ``prompts.services``; every file change is logged as a
change of its engine type, so the stock "History" page lists it.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.admin_pages import DynamoDBAdmin
from config.errors import NotFound, ValidationFailed
from prompts.admin_forms import KnowledgeFileUploadForm, KnowledgeTextForm
from prompts.models import EngineTypeEntry, KnowledgeFile
from prompts.selectors import engine_type_get, knowledge_file_get, knowledge_file_list
from prompts.services import knowledge_file_add, knowledge_file_delete, knowledge_file_move, knowledge_file_upload
from prompts.system_prompt import engine_type_preview

FILE_LOG_NAME = "knowledge file"
FILE_GONE = gettext_lazy("That knowledge file no longer exists.")
_MOVED = {
    "up": gettext_lazy("Knowledge file “%(name)s” moved up."),
    "down": gettext_lazy("Knowledge file “%(name)s” moved down."),
}


class EngineTypeAdminPages(DynamoDBAdmin):
    """The engine type behind a URL, and the pages about it that Django's admin has no stock view for."""

    def get_object(self, request, object_id, from_field=None):
        """The placeholder for a stored engine type (with the PynamoDB item as ``.prompt``), or None."""
        try:
            prompt = engine_type_get(engine_type=object_id)
        except NotFound:
            return None
        entry = EngineTypeEntry(engine_type=prompt.engine_type)
        entry.prompt = prompt
        return entry

    def object_or_redirect(self, request, object_id):
        """``(entry, None)``, or ``(None, redirect)`` to the list with Django's "doesn't exist" message."""
        obj = self.get_object(request, object_id)
        if obj is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return obj, None

    def preview_view(self, request, object_id):
        obj, redirect = self.object_or_redirect(request, object_id)
        if redirect:
            return redirect
        self.require(self.has_view_or_change_permission(request, obj))
        return self.render(
            request,
            "preview.html",
            title=f"Preview: {obj}",
            original=obj,
            preview=engine_type_preview(engine_type=obj.pk),
        )

    def files_view(self, request, object_id):
        obj, redirect = self.object_or_redirect(request, object_id)
        if redirect:
            return redirect
        self.require(self.has_view_or_change_permission(request, obj))
        upload_form, text_form = KnowledgeFileUploadForm(), KnowledgeTextForm()
        if request.method == "POST":
            self.require(self.has_change_permission(request, obj))
            action = request.POST.get("action")
            if action == "upload":
                upload_form = KnowledgeFileUploadForm(request.POST, request.FILES)
                if upload_form.is_valid() and self._file_add(request, obj, upload_form, knowledge_file_upload):
                    return HttpResponseRedirect(request.path)
            elif action == "text":
                text_form = KnowledgeTextForm(request.POST)
                if text_form.is_valid() and self._file_add(request, obj, text_form, knowledge_file_add):
                    return HttpResponseRedirect(request.path)
            elif action in ("up", "down"):
                self._move(request, obj, request.POST.get("file_id", ""), action)
                return HttpResponseRedirect(request.path)
        files = knowledge_file_list(engine_type=obj.pk)
        return self.render(
            request,
            "files.html",
            title=f"Knowledge files: {obj}",
            original=obj,
            files=files,
            total_chars=sum(f.char_count for f in files),
            upload_form=upload_form,
            text_form=text_form,
            can_change=self.has_change_permission(request, obj),
            limits={
                "upload_bytes": settings.PROMPTS_MAX_UPLOAD_BYTES,
                "file_text_bytes": settings.PROMPTS_MAX_FILE_TEXT_BYTES,
                "files": settings.PROMPTS_MAX_FILES_PER_ENGINE,
                "context_chars": settings.PROMPTS_MAX_CONTEXT_CHARS,
            },
            media=self.media,
        )

    def file_view(self, request, object_id, file_id):
        obj, redirect = self.object_or_redirect(request, object_id)
        if redirect:
            return redirect
        self.require(self.has_view_or_change_permission(request, obj))
        try:
            knowledge_file = knowledge_file_get(engine_type=obj.pk, file_id=file_id)
        except NotFound:
            self.message_user(request, FILE_GONE, messages.WARNING)
            return HttpResponseRedirect(self.page_url("files", obj.pk))
        if request.method == "POST":
            self.require(self.has_change_permission(request, obj) and request.POST.get("action") == "delete")
            knowledge_file_delete(engine_type=obj.pk, file_id=file_id, updated_by=request.user.get_username())
            self._log_file(request, obj, "deleted", knowledge_file.file_name)
            self.message_user(request, _("Knowledge file “%(name)s” was deleted.") % {"name": knowledge_file.file_name})
            return HttpResponseRedirect(self.page_url("files", obj.pk))
        return self.render(
            request,
            "file.html",
            title=knowledge_file.file_name,
            original=obj,
            knowledge_file=knowledge_file,
            can_change=self.has_change_permission(request, obj),
        )

    def _file_add(
        self, request, obj, form: KnowledgeFileUploadForm | KnowledgeTextForm, add: Callable[..., KnowledgeFile]
    ) -> bool:
        """Store the form's file with ``add`` (a service); False, with the refusal on the form, if refused."""
        try:
            knowledge_file = add(engine_type=obj.pk, created_by=request.user.get_username(), **form.file_fields())
        except (ValidationFailed, NotFound) as exc:
            form.add_service_error(exc, field=form.error_field)
            return False
        self._log_file(request, obj, "added", knowledge_file.file_name)
        added = _("Knowledge file “%(name)s” added (%(chars)s characters).")
        chars = f"{knowledge_file.char_count:,}"
        self.message_user(request, added % {"name": knowledge_file.file_name, "chars": chars})
        return True

    def _move(self, request, obj, file_id: str, direction: str) -> None:
        try:
            moved = knowledge_file_move(
                engine_type=obj.pk, file_id=file_id, direction=direction, updated_by=request.user.get_username()
            )
        except NotFound:
            self.message_user(request, FILE_GONE, messages.WARNING)
            return
        if moved is not None:
            self._log_file(request, obj, "changed", moved.file_name, fields=["position"])
            self.message_user(request, _MOVED[direction] % {"name": moved.file_name})

    def _log_file(self, request, obj, action: str, file_name: str, **detail) -> None:
        self.log_change(request, obj, [{action: {"name": FILE_LOG_NAME, "object": file_name, **detail}}])
