"""Engine types and their knowledge files in the Django admin, over PynamoDB data.

``EngineTypeEntry`` is an unmanaged placeholder: it gives the admin its URLs, permissions and history. Every
page reads through ``prompts.selectors`` and writes through ``prompts.services`` (which hold validation and
limits), and every write leaves a ``LogEntry`` against the placeholder, so the stock "History" page works.
The add/change page is the stock ``admin/change_form.html`` rendered by ``render_change_form``; the forms are
in ``prompts.admin_forms``, the preview and knowledge-file pages in ``prompts.admin_views``.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import construct_change_message
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import Conflict, ValidationFailed
from prompts.admin_forms import EngineTypeForm
from prompts.admin_views import EngineTypeAdminPages
from prompts.models import EngineTypeEntry
from prompts.selectors import engine_type_search, knowledge_file_list
from prompts.services import engine_type_create, engine_type_delete, engine_type_update

# Django admin's own messages (its msgids), so a save reads like the rest of the admin in every language.
_SAVED = {
    ("added", "continue"): gettext_lazy("The {name} “{obj}” was added successfully. You may edit it again below."),
    ("added", "another"): gettext_lazy("The {name} “{obj}” was added successfully. You may add another {name} below."),
    ("added", "list"): gettext_lazy("The {name} “{obj}” was added successfully."),
    ("changed", "continue"): gettext_lazy("The {name} “{obj}” was changed successfully. You may edit it again below."),
    ("changed", "another"): gettext_lazy(
        "The {name} “{obj}” was changed successfully. You may add another {name} below."
    ),
    ("changed", "list"): gettext_lazy("The {name} “{obj}” was changed successfully."),
}

ACTIVE_FILTER = (("All", ""), ("Active", "1"), ("Inactive", "0"))


@admin.register(EngineTypeEntry)
class EngineTypeAdmin(EngineTypeAdminPages):
    fieldsets = (
        (None, {"fields": ("engine_type", "name", "active")}),
        ("EngineType", {"fields": ("description", "instruction")}),
        ("Model", {"fields": ("model_id", "temperature", "top_p", "max_tokens", "version")}),
        ("Retention", {"fields": ("retention_days",)}),
    )
    pages = {
        "": "changelist_view",
        "add/": "add_view",
        "<str:object_id>/change/": "change_view",
        "<str:object_id>/delete/": "delete_view",
        "<str:object_id>/history/": "history_view",
        "<str:object_id>/preview/": "preview_view",
        "<str:object_id>/files/": "files_view",
        "<str:object_id>/files/<str:file_id>/": "file_view",
    }

    def changelist_view(self, request, extra_context=None):
        self.require(self.has_view_or_change_permission(request))
        query = request.GET.get("q", "").strip()
        active = request.GET.get("active", "")
        search = engine_type_search(query=query, active={"1": True, "0": False}.get(active))
        return self.render(
            request,
            "change_list.html",
            title=f"Select {self.opts.verbose_name} to change",
            prompts=search.results,
            total=search.total,
            query=query,
            active=active,
            filters=[
                {
                    "display": label,
                    "selected": active == value,
                    "query_string": "?" + urlencode({"active": value, "q": query}),
                }
                for label, value in ACTIVE_FILTER
            ],
            has_add_permission=self.has_add_permission(request),
            **(extra_context or {}),
        )

    def add_view(self, request, form_url="", extra_context=None):
        self.require(self.has_add_permission(request))
        return self._changeform(request, None)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj, redirect = self.object_or_redirect(request, object_id)
        if redirect:
            return redirect
        self.require(self.has_view_or_change_permission(request, obj))
        return self._changeform(request, obj)

    def _changeform(self, request, obj):
        add = obj is None
        can_write = add or self.has_change_permission(request, obj)
        initial = {} if add else EngineTypeForm.initial_from(obj.prompt)
        if request.method == "POST":
            self.require(can_write)
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
        verb = "Add" if add else "Change" if can_write else "View"
        context = self.page_context(
            request,
            title=f"{verb} {self.opts.verbose_name}",
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
            self.message_user(request, _("No fields changed."), messages.INFO)
            return self._after_save(request, obj, verb=None)
        try:
            if add:
                saved = engine_type_create(
                    engine_type=form.cleaned_data["engine_type"], updated_by=who, **form.engine_type_fields()
                )
            else:
                saved = engine_type_update(
                    engine_type=obj.pk,
                    expected_version=form.cleaned_data["version"],
                    updated_by=who,
                    **form.engine_type_fields(),
                )
        except (Conflict, ValidationFailed) as exc:
            form.add_service_error(exc)
            return None
        entry = EngineTypeEntry(engine_type=saved.engine_type)
        change_message = construct_change_message(form, [], add)
        if add:
            self.log_addition(request, entry, change_message)
        else:
            self.log_change(request, entry, change_message)
        return self._after_save(request, entry, verb="added" if add else "changed")

    def _after_save(self, request, entry, *, verb: str | None):
        """Django's redirects after a save (list, "continue editing", "add another") with its messages."""
        link = format_html('<a href="{}">{}</a>', self.page_url("change", entry.pk), entry)
        then = "continue" if "_continue" in request.POST else "another" if "_addanother" in request.POST else "list"
        if verb:
            self.message_user(request, format_html(_SAVED[verb, then], name=self.opts.verbose_name, obj=link))
        if then == "continue":
            return HttpResponseRedirect(self.page_url("change", entry.pk))
        if then == "another":
            return HttpResponseRedirect(self.page_url("add"))
        return HttpResponseRedirect(self.page_url("changelist"))

    def delete_view(self, request, object_id, extra_context=None):
        obj, redirect = self.object_or_redirect(request, object_id)
        if redirect:
            return redirect
        self.require(self.has_delete_permission(request, obj))
        files = knowledge_file_list(engine_type=obj.pk)
        if request.method == "POST":
            try:
                engine_type_delete(engine_type=obj.pk, expected_version=obj.prompt.version)
            except Conflict as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(request.path)
            self.log_deletions(request, [obj])
            deleted = _("The %(name)s “%(obj)s” was deleted successfully.")
            self.message_user(request, deleted % {"name": self.opts.verbose_name, "obj": obj})
            return HttpResponseRedirect(self.page_url("changelist"))
        name = self.opts.verbose_name
        context = self.page_context(
            request,
            title=_("Are you sure?"),
            object_name=str(name),
            object=obj,
            deleted_objects=[
                format_html('{}: <a href="{}">{}</a>', name.capitalize(), self.page_url("change", obj.pk), obj),
                [format_html("Knowledge file: {}", f.file_name) for f in files],
            ],
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
