"""The forms of the engine-type admin. They parse and show errors; the rules are in ``prompts.services``."""

from django import forms
from django.conf import settings
from django.forms.utils import pretty_name
from django.utils.html import format_html, format_html_join

from config.errors import ApplicationError, Conflict
from config.identifiers import ENGINE_TYPE_MAX_CHARS
from prompts.extraction import ALLOWED_EXTENSIONS
from prompts.models import EngineType
from prompts.services import ENGINE_TYPE_FIELDS, FILE_NAME_MAX_CHARS, NAME_MAX_CHARS, RETENTION_DAYS_MAX

TEXT_FILE_EXTENSIONS = (".txt", ".md")


class ServiceErrorsMixin:
    def add_service_error(self, exc: ApplicationError, field: str | None = None) -> None:
        """Put a service error next to the fields it names (all of them on ``field``, if given), or at the top."""
        placed = False
        for name, field_messages in (exc.extra.get("fields") or {}).items():
            target = field or name
            if target in self.fields:
                for message in field_messages:
                    self.add_error(target, message)
                placed = True
        if not placed:
            self.add_error(field if field in self.fields else None, exc.message)


class ModelIdInput(forms.TextInput):
    """Free text with the configured model ids offered as suggestions (an HTML ``<datalist>``)."""

    def __init__(self, choices: list[str]) -> None:
        super().__init__(attrs={"list": "model-id-choices", "class": "vTextField", "autocomplete": "off"})
        self.choices = choices

    def render(self, name, value, attrs=None, renderer=None):
        options = format_html_join("", '<option value="{}">', ((choice,) for choice in self.choices))
        datalist = format_html('<datalist id="model-id-choices">{}</datalist>', options)
        return super().render(name, value, attrs, renderer) + datalist


class DaysField(forms.IntegerField):
    """A number of days where empty means 0 (keep forever), so a form saved without it changes nothing."""

    def to_python(self, value):
        return super().to_python(value) or 0


class EngineTypeForm(ServiceErrorsMixin, forms.Form):
    engine_type = forms.CharField(
        label="Id",
        max_length=ENGINE_TYPE_MAX_CHARS,
        help_text="What users choose, e.g. “11”. Letters, digits, - and _; fixed once added.",
    )
    name = forms.CharField(max_length=NAME_MAX_CHARS, required=False)
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
    retention_days = DaysField(
        label="Retention (days)",
        required=False,
        min_value=0,
        max_value=RETENTION_DAYS_MAX,
        initial=0,
        help_text="Conversations are deleted this many days after their last message; 0 = kept forever. "
        "A change applies to each conversation at its next message.",
    )
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

    @staticmethod
    def initial_from(engine_type: EngineType) -> dict:
        initial = {name: getattr(engine_type, name) for name in ENGINE_TYPE_FIELDS}
        initial["model_id"] = engine_type.model_id or ""
        initial["retention_days"] = int(engine_type.retention_days or 0)
        return {**initial, "engine_type": engine_type.engine_type, "version": engine_type.version}

    def engine_type_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ENGINE_TYPE_FIELDS}

    def add_service_error(self, exc: ApplicationError, field: str | None = None) -> None:
        if isinstance(exc, Conflict) and exc.code == "edit_conflict":
            self.add_error(
                None,
                f"{exc.message} Nothing was saved. Open the page again to see the current values, "
                "then make your change again.",
            )
        elif isinstance(exc, Conflict):  # the id is taken
            self.add_error("engine_type", exc.message)
        else:
            super().add_service_error(exc, field)


class KnowledgeFileUploadForm(ServiceErrorsMixin, forms.Form):
    """Arguments of ``knowledge_file_upload``."""

    file = forms.FileField(help_text=f"{', '.join(ALLOWED_EXTENSIONS)}; the text is extracted on the server.")
    error_field = "file"

    def file_fields(self) -> dict:
        upload = self.cleaned_data["file"]
        # Never more than the limit in memory: one byte more is enough for the service to refuse it.
        return {"file_name": upload.name, "data": upload.read(settings.PROMPTS_MAX_UPLOAD_BYTES + 1)}


class KnowledgeTextForm(ServiceErrorsMixin, forms.Form):
    """Arguments of ``knowledge_file_add``."""

    title = forms.CharField(max_length=FILE_NAME_MAX_CHARS, help_text="Stored as a file named after the title.")
    content = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "class": "vLargeTextField"}))
    error_field = "content"

    def file_fields(self) -> dict:
        title = self.cleaned_data["title"]
        file_name = title if title.lower().endswith(TEXT_FILE_EXTENSIONS) else f"{title}.txt"
        return {"file_name": file_name, "content": self.cleaned_data["content"]}
