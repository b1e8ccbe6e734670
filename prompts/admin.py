"""Engine types and their knowledge files in the Django admin, over PynamoDB data.

``EngineTypeEntry`` is an unmanaged placeholder: it gives the admin its URLs, permissions and history. Every
page reads through ``prompts.selectors`` and writes through ``prompts.services`` (which hold validation and
limits), and every write leaves a ``LogEntry`` against the placeholder, so the stock "History" page works.
The add/change page is the stock ``admin/change_form.html`` rendered by ``render_change_form``.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import construct_change_message, quote
from django.core.exceptions import PermissionDenied
from django.forms.utils import pretty_name
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from config.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from prompts.extraction import ALLOWED_EXTENSIONS
from prompts.models import EngineType, EngineTypeEntry
from prompts.selectors import engine_type_get, engine_type_list, knowledge_file_get, knowledge_file_list
from prompts.services import (
    ENGINE_TYPE_FIELDS,
    engine_type_create,
    engine_type_delete,
    engine_type_update,
    knowledge_file_add,
    knowledge_file_delete,
    knowledge_file_reorder,
    knowledge_file_upload,
)
from prompts.system_prompt import engine_type_preview

FILE_LOG_NAME = "knowledge file"


class ModelIdInput(forms.TextInput):
    """Free text with the configured model ids offered as suggestions (an HTML ``<datalist>``)."""

    def __init__(self, choices: list[str]) -> None:
        super().__init__(attrs={"list": "model-id-choices", "class": "vTextField", "autocomplete": "off"})
        self.choices = choices

    def render(self, name, value, attrs=None, renderer=None):
        options = format_html_join("", '<option value="{}">', ((choice,) for choice in self.choices))
        datalist = format_html('<datalist id="model-id-choices">{}</datalist>', options)
        return super().render(name, value, attrs, renderer) + datalist


class EngineTypeForm(forms.Form):
    engine_type = forms.CharField(
        label="Id", max_length=32, help_text="What users choose, e.g. “11”. Letters, digits, - and _; fixed once added."
    )
    name = forms.CharField(max_length=100, required=False)
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive engine types are hidden from users and take no messages."
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"}),
        help_text="The persona: the first paragraph of the system prompt.",
    )
    instruction = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 16, "class": "vLargeTextField"}),
        help_text="Guidelines the model follows. Knowledge files are appended after it.",
    )
    model_id = forms.CharField(label="Model id", max_length=200, required=False)
    temperature = forms.FloatField(required=False, min_value=0, max_value=1)
    top_p = forms.FloatField(label="Top p", required=False, min_value=0, max_value=1)
    max_tokens = forms.IntegerField(label="Max output tokens", required=False, min_value=1)
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, add: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.label = field.label or pretty_name(name)  # the history's change messages name fields by label
        self.fields["model_id"].widget = ModelIdInput(settings.BEDROCK_MODEL_CHOICES)
        self.fields["model_id"].help_text = f"Empty = the default, {settings.BEDROCK_DEFAULT_MODEL_ID}."
        self.fields["temperature"].help_text = f"0 to 1. Empty = the default, {settings.BEDROCK_DEFAULT_TEMPERATURE}."
        self.fields["top_p"].help_text = f"0 to 1. Empty = the default, {settings.BEDROCK_DEFAULT_TOP_P}."
        self.fields["max_tokens"].help_text = f"Empty = the default, {settings.BEDROCK_DEFAULT_MAX_TOKENS}."
        if not add:
            self.fields["engine_type"].disabled = True
            self.fields["version"].required = True  # the version the form was opened at: optimistic locking

    def prompt_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ENGINE_TYPE_FIELDS}


class KnowledgeFileUploadForm(forms.Form):
    file = forms.FileField(help_text=f"{', '.join(ALLOWED_EXTENSIONS)}; the text is extracted on the server.")


class KnowledgeTextForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="Stored as a file named after the title.")
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "class": "vLargeTextField"}))


def _form_error(form: forms.Form, exc: ApplicationError, field: str | None = None) -> None:
    """Put a service error next to the field it is about, or at the top of the form."""
    placed = False
    for name, field_messages in (exc.extra.get("fields") or {}).items():
        target = field or name
        if target in form.fields:
            for message in field_messages:
                form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(field if field in form.fields else None, exc.message)


def _initial(prompt: EngineType) -> dict:
    initial = {name: getattr(prompt, name) for name in ENGINE_TYPE_FIELDS}
    initial["model_id"] = prompt.model_id or ""
    return {**initial, "engine_type": prompt.engine_type, "version": prompt.version}


@admin.register(EngineTypeEntry)
class EngineTypeAdmin(admin.ModelAdmin):
    fieldsets = (
        (None, {"fields": ("engine_type", "name", "active")}),
        ("EngineType", {"fields": ("description", "instruction")}),
        ("Model", {"fields": ("model_id", "temperature", "top_p", "max_tokens", "version")}),
    )

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(self.changelist_view), name=f"{info}_changelist"),
            path("add/", wrap(self.add_view), name=f"{info}_add"),
            path("<str:object_id>/change/", wrap(self.change_view), name=f"{info}_change"),
            path("<str:object_id>/delete/", wrap(self.delete_view), name=f"{info}_delete"),
            path("<str:object_id>/history/", wrap(self.history_view), name=f"{info}_history"),
            path("<str:object_id>/preview/", wrap(self.preview_view), name=f"{info}_preview"),
            path("<str:object_id>/files/", wrap(self.files_view), name=f"{info}_files"),
            path("<str:object_id>/files/<str:file_id>/", wrap(self.file_view), name=f"{info}_file"),
        ]

    def get_object(self, request, object_id, from_field=None):
        """The placeholder for a stored engine type (with the PynamoDB item as ``.prompt``), or None."""
        try:
            prompt = engine_type_get(engine_type=object_id)
        except NotFound:
            return None
        entry = EngineTypeEntry(engine_type=prompt.engine_type)
        entry.prompt = prompt
        return entry

    def _url(self, name: str, *args: str) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[quote(a) for a in args])

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "subtitle": None, **extra}

    def _object_or_redirect(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return obj, None

    # --- list -------------------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()
        active = request.GET.get("active", "")
        prompts = engine_type_list(include_inactive=True)
        total = len(prompts)
        if query:
            needle = query.casefold()
            prompts = [p for p in prompts if needle in p.engine_type.casefold() or needle in p.name.casefold()]
        if active in ("1", "0"):
            prompts = [p for p in prompts if p.active == (active == "1")]
        filters = [
            {
                "display": label,
                "selected": active == value,
                "query_string": "?" + urlencode({"active": value, "q": query}),
            }
            for label, value in (("All", ""), ("Active", "1"), ("Inactive", "0"))
        ]
        context = self._context(
            request,
            title=f"Select {self.opts.verbose_name} to change",
            prompts=prompts,
            total=total,
            query=query,
            active=active,
            filters=filters,
            has_add_permission=self.has_add_permission(request),
            **(extra_context or {}),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/prompts/enginetypeentry/change_list.html", context)

    # --- add / change -----------------------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._changeform(request, None)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj, redirect = self._object_or_redirect(request, object_id)
        if redirect:
            return redirect
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return self._changeform(request, obj)

    def _changeform(self, request, obj):
        add = obj is None
        can_write = add or self.has_change_permission(request, obj)
        initial = {} if add else _initial(obj.prompt)
        if request.method == "POST":
            if not can_write:
                raise PermissionDenied
            form = EngineTypeForm(request.POST, initial=initial, add=add)
            if form.is_valid():
                response = self._save(request, form, obj)
                if response is not None:
                    return response
        else:
            form = EngineTypeForm(initial=initial, add=add)
        if not can_write:
            for field in form.fields.values():
                field.disabled = True
        adminform = helpers.AdminForm(form, list(self.fieldsets), {}, model_admin=self)
        if add:
            title = f"Add {self.opts.verbose_name}"
        else:
            title = f"{'Change' if can_write else 'View'} {self.opts.verbose_name}"
        context = self._context(
            request,
            title=title,
            subtitle=str(obj) if obj else None,
            adminform=adminform,
            object_id=None if add else obj.pk,
            original=obj,
            is_popup=False,
            to_field=None,
            media=self.media + adminform.media,
            inline_admin_formsets=[],
            errors=helpers.AdminErrorList(form, []),
            preserved_filters="",
            knowledge_files=[] if add else knowledge_file_list(engine_type=obj.pk),
        )
        return self.render_change_form(request, context, add=add, change=not add, obj=obj)

    def _save(self, request, form: EngineTypeForm, obj):
        """Write through the services; returns the redirect, or None with the errors put on the form."""
        add = obj is None
        who = request.user.get_username()
        if not add and not form.has_changed():
            self.message_user(request, f"No changes to the {self.opts.verbose_name} “{obj}”.", messages.INFO)
            return self._after_save(request, obj, add=False, verb=None)
        try:
            if add:
                prompt = engine_type_create(
                    engine_type=form.cleaned_data["engine_type"], updated_by=who, **form.prompt_fields()
                )
            else:
                prompt = engine_type_update(
                    engine_type=obj.pk,
                    expected_version=form.cleaned_data["version"],
                    updated_by=who,
                    **form.prompt_fields(),
                )
        except Conflict as exc:
            if exc.code == "edit_conflict":
                form.add_error(
                    None,
                    f"{exc.message} Nothing was saved. Open the page again to see the current values, "
                    "then make your change again.",
                )
            else:
                form.add_error("engine_type", exc.message)
            return None
        except ValidationFailed as exc:
            _form_error(form, exc)
            return None
        entry = EngineTypeEntry(engine_type=prompt.engine_type)
        change_message = construct_change_message(form, [], add)
        if add:
            self.log_addition(request, entry, change_message)
        else:
            self.log_change(request, entry, change_message)
        return self._after_save(request, entry, add=add, verb="added" if add else "changed")

    def _after_save(self, request, entry, *, add: bool, verb: str | None):
        link = format_html('<a href="{}">{}</a>', self._url("change", entry.pk), entry)
        name = self.opts.verbose_name
        if "_continue" in request.POST:
            if verb:
                self.message_user(
                    request,
                    format_html("The {} “{}” was {} successfully. You may edit it again below.", name, link, verb),
                )
            return HttpResponseRedirect(self._url("change", entry.pk))
        if "_addanother" in request.POST:
            if verb:
                self.message_user(
                    request,
                    format_html(
                        "The {} “{}” was {} successfully. You may add another {} below.", name, link, verb, name
                    ),
                )
            return HttpResponseRedirect(self._url("add"))
        if verb:
            self.message_user(request, format_html("The {} “{}” was {} successfully.", name, link, verb))
        return HttpResponseRedirect(self._url("changelist"))

    # --- delete -----------------------------------------------------------------------------------

    def delete_view(self, request, object_id, extra_context=None):
        obj, redirect = self._object_or_redirect(request, object_id)
        if redirect:
            return redirect
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        files = knowledge_file_list(engine_type=obj.pk)
        if request.method == "POST":
            try:
                engine_type_delete(engine_type=obj.pk, expected_version=obj.prompt.version)
            except Conflict as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.log_deletions(request, [obj])
            self.message_user(request, f"The {self.opts.verbose_name} “{obj}” was deleted successfully.")
            return HttpResponseRedirect(self._url("changelist"))
        deleted = [
            format_html(
                '{}: <a href="{}">{}</a>', self.opts.verbose_name.capitalize(), self._url("change", obj.pk), obj
            ),
            [format_html("Knowledge file: {}", f.file_name) for f in files],
        ]
        context = self._context(
            request,
            title="Are you sure?",
            object_name=str(self.opts.verbose_name),
            object=obj,
            deleted_objects=deleted,
            model_count={"engine types": 1, "knowledge files": len(files)}.items(),
            perms_lacking=set(),
            protected=[],
            app_label=self.opts.app_label,
            preserved_filters="",
            is_popup=False,
            to_field=None,
            **(extra_context or {}),
        )
        return self.render_delete_form(request, context)

    # --- preview ----------------------------------------------------------------------------------

    def preview_view(self, request, object_id):
        obj, redirect = self._object_or_redirect(request, object_id)
        if redirect:
            return redirect
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        context = self._context(
            request, title=f"Preview: {obj}", original=obj, preview=engine_type_preview(engine_type=obj.pk)
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/prompts/enginetypeentry/preview.html", context)

    # --- knowledge files --------------------------------------------------------------------------

    def _log_file(self, request, obj, action: str, file_name: str, **detail) -> None:
        self.log_change(request, obj, [{action: {"name": FILE_LOG_NAME, "object": file_name, **detail}}])

    def files_view(self, request, object_id):
        obj, redirect = self._object_or_redirect(request, object_id)
        if redirect:
            return redirect
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        upload_form, text_form = KnowledgeFileUploadForm(), KnowledgeTextForm()
        if request.method == "POST":
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            action = request.POST.get("action")
            if action == "upload":
                upload_form = KnowledgeFileUploadForm(request.POST, request.FILES)
                if upload_form.is_valid() and self._upload(request, obj, upload_form):
                    return HttpResponseRedirect(request.path)
            elif action == "text":
                text_form = KnowledgeTextForm(request.POST)
                if text_form.is_valid() and self._add_text(request, obj, text_form):
                    return HttpResponseRedirect(request.path)
            elif action in ("up", "down"):
                self._move(request, obj, request.POST.get("file_id", ""), -1 if action == "up" else 1)
                return HttpResponseRedirect(request.path)
        files = knowledge_file_list(engine_type=obj.pk)
        context = self._context(
            request,
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
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/prompts/enginetypeentry/files.html", context)

    def _upload(self, request, obj, form: KnowledgeFileUploadForm) -> bool:
        upload = form.cleaned_data["file"]
        # Never read more than the limit into memory; one byte more is enough for the service to refuse it.
        data = upload.read(settings.PROMPTS_MAX_UPLOAD_BYTES + 1)
        try:
            knowledge_file = knowledge_file_upload(
                engine_type=obj.pk, file_name=upload.name, data=data, created_by=request.user.get_username()
            )
        except (ValidationFailed, NotFound) as exc:
            _form_error(form, exc, field="file")
            return False
        self._log_file(request, obj, "added", knowledge_file.file_name)
        self.message_user(
            request, f"Knowledge file “{knowledge_file.file_name}” added ({knowledge_file.char_count:,} characters)."
        )
        return True

    def _add_text(self, request, obj, form: KnowledgeTextForm) -> bool:
        title = form.cleaned_data["title"]
        file_name = title if title.lower().endswith((".txt", ".md")) else f"{title}.txt"
        try:
            knowledge_file = knowledge_file_add(
                engine_type=obj.pk,
                file_name=file_name,
                content=form.cleaned_data["content"],
                created_by=request.user.get_username(),
            )
        except (ValidationFailed, NotFound) as exc:
            _form_error(form, exc, field="content")
            return False
        self._log_file(request, obj, "added", knowledge_file.file_name)
        self.message_user(
            request, f"Knowledge file “{knowledge_file.file_name}” added ({knowledge_file.char_count:,} characters)."
        )
        return True

    def _move(self, request, obj, file_id: str, offset: int) -> None:
        order = [f.file_id for f in knowledge_file_list(engine_type=obj.pk)]
        if file_id not in order:
            self.message_user(request, "That knowledge file no longer exists.", messages.WARNING)
            return
        index = order.index(file_id)
        target = index + offset
        if not 0 <= target < len(order):
            return
        order[index], order[target] = order[target], order[index]
        files = knowledge_file_reorder(engine_type=obj.pk, file_ids=order, updated_by=request.user.get_username())
        moved = files[target]
        self._log_file(request, obj, "changed", moved.file_name, fields=["position"])
        self.message_user(request, f"Knowledge file “{moved.file_name}” moved {'up' if offset < 0 else 'down'}.")

    def file_view(self, request, object_id, file_id):
        obj, redirect = self._object_or_redirect(request, object_id)
        if redirect:
            return redirect
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        try:
            knowledge_file = knowledge_file_get(engine_type=obj.pk, file_id=file_id)
        except NotFound:
            self.message_user(request, "That knowledge file no longer exists.", messages.WARNING)
            return HttpResponseRedirect(self._url("files", obj.pk))
        if request.method == "POST":
            if not self.has_change_permission(request, obj) or request.POST.get("action") != "delete":
                raise PermissionDenied
            knowledge_file_delete(engine_type=obj.pk, file_id=file_id, updated_by=request.user.get_username())
            self._log_file(request, obj, "deleted", knowledge_file.file_name)
            self.message_user(request, f"Knowledge file “{knowledge_file.file_name}” was deleted.")
            return HttpResponseRedirect(self._url("files", obj.pk))
        context = self._context(
            request,
            title=knowledge_file.file_name,
            original=obj,
            knowledge_file=knowledge_file,
            can_change=self.has_change_permission(request, obj),
        )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/prompts/enginetypeentry/file.html", context)
