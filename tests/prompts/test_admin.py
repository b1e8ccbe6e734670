"""The engine-type admin (prompts.admin): list, add/change form, locking, delete, permissions, history."""

import json

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.urls import reverse

from prompts.models import EngineType, EngineTypeEntry, KnowledgeFile
from prompts.services import engine_type_create, knowledge_file_add

CHANGELIST = "admin:prompts_enginetypeentry_changelist"
ADD = "admin:prompts_enginetypeentry_add"


def url(name: str, *args) -> str:
    return reverse(f"admin:prompts_enginetypeentry_{name}", args=args)


def form_data(**overrides) -> dict:
    data = {
        "engine_type": "22",
        "name": "Corporate press releases",
        "active": "on",
        "description": "A corporate PR writer.",
        "instruction": "Be creative.",
        "model_id": "",
        "temperature": "",
        "top_p": "",
        "max_tokens": "",
        "version": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def change_data(prompt: EngineType, **overrides) -> dict:
    """What the change form posts back: the stored values, the version it was opened at, and the edits."""
    data = form_data(
        engine_type=prompt.engine_type,
        name=prompt.name,
        description=prompt.description,
        instruction=prompt.instruction,
        version=str(prompt.version),
        active="on" if prompt.active else None,
    )
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def log_entries(engine_type: str) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id=engine_type).order_by("pk"))


# --- list ----------------------------------------------------------------------------------------


def test_list_searches_by_id_and_name_and_filters_on_active(client, editor, engine):
    engine_type_create(engine_type="22", name="Corporate", updated_by="seed")
    engine_type_create(engine_type="T5", name="Headlines", active=False, updated_by="seed")
    client.force_login(editor)

    everything = client.get(reverse(CHANGELIST)).content.decode()
    by_name = client.get(reverse(CHANGELIST), {"q": "headl"}).content.decode()
    by_id = client.get(reverse(CHANGELIST), {"q": "22"}).content.decode()
    inactive = client.get(reverse(CHANGELIST), {"active": "0"}).content.decode()
    active = client.get(reverse(CHANGELIST), {"active": "1"}).content.decode()

    for engine_type in ("11", "22", "T5"):
        assert url("change", engine_type) in everything
    assert url("change", "T5") in by_name and url("change", "11") not in by_name
    assert url("change", "22") in by_id and url("change", "T5") not in by_id
    assert url("change", "T5") in inactive and url("change", "11") not in inactive
    assert url("change", "11") in active and url("change", "T5") not in active
    assert 'class="breadcrumbs"' in everything
    assert url("add") in everything


# --- add -----------------------------------------------------------------------------------------


def test_the_admins_messages_follow_the_staff_members_language(client, editor):
    client.force_login(editor)

    added = client.post(reverse(ADD), form_data(), follow=True, headers={"accept-language": "ko"})

    link = f'<a href="{reverse("admin:prompts_enginetypeentry_change", args=["22"])}">22</a>'
    said = [str(message) for message in added.context["messages"]]
    assert said == [f"engine type “{link}”가 성공적으로 추가되었습니다."]  # Django's own Korean for its msgid


def test_add_stores_the_engine_type_logs_it_and_says_so(client, editor):
    client.force_login(editor)

    response = client.post(
        reverse(ADD),
        form_data(model_id="us.anthropic.claude-3-5-haiku-20241022-v1:0", temperature="0.3", max_tokens="2000"),
        follow=True,
    )

    prompt = EngineType.get("22")
    assert (prompt.name, prompt.instruction, prompt.model_id) == (
        "Corporate press releases",
        "Be creative.",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    )
    assert (prompt.temperature, prompt.top_p, prompt.max_tokens, prompt.active) == (0.3, None, 2000, True)
    assert prompt.updated_by == "editor"
    assert response.redirect_chain[-1][0] == reverse(CHANGELIST)
    assert "was added successfully" in response.content.decode()
    [entry] = log_entries("22")
    assert entry.action_flag == ADDITION and entry.user == editor
    assert entry.content_type.model_class() is EngineTypeEntry


def test_add_form_is_the_stock_change_form(client, editor):
    client.force_login(editor)

    page = client.get(reverse(ADD)).content.decode()

    assert 'name="_continue"' in page and "Save and continue editing" in page
    assert 'name="_addanother"' in page
    assert 'class="breadcrumbs"' in page and "Add engine type" in page
    assert '<datalist id="model-id-choices">' in page
    assert '<option value="us.anthropic.claude-opus-4-1-20250805-v1:0">' in page


def test_save_and_continue_goes_to_the_change_page(client, editor):
    client.force_login(editor)

    response = client.post(reverse(ADD), {**form_data(), "_continue": "1"})

    assert response.status_code == 302
    assert response["Location"] == url("change", "22")


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("temperature", "1.5", "less than or equal to 1"),  # the form's own bounds
        ("engine_type", "no spaces", "letters, digits"),  # the service's rules, shown next to the field
        ("model_id", "not a model id!", "Bedrock model id"),
        ("max_tokens", "999999", "between 1 and"),
    ],
)
def test_invalid_values_are_shown_next_to_the_field(client, editor, field, value, fragment):
    client.force_login(editor)

    response = client.post(reverse(ADD), form_data(**{field: value}))

    assert response.status_code == 200
    assert fragment in str(response.context["adminform"].form.errors[field])
    assert "Please correct the error below." in response.content.decode()
    assert EngineType.count() == 0


def test_a_duplicate_id_is_refused_on_the_id_field(client, editor, engine):
    client.force_login(editor)

    response = client.post(reverse(ADD), form_data(engine_type="11", name="Other"))

    assert "already exists" in str(response.context["adminform"].form.errors["engine_type"])
    assert EngineType.get("11").name == "Financial press releases"


# --- change and optimistic locking ---------------------------------------------------------------


def test_change_updates_bumps_the_revision_and_logs_what_changed(client, editor, engine):
    client.force_login(editor)
    page = client.get(url("change", "11")).content.decode()
    assert f'name="version" value="{engine.version}"' in page
    assert url("history", "11") in page and url("preview", "11") in page and url("files", "11") in page

    response = client.post(url("change", "11"), change_data(engine, instruction="Write very short sentences."))

    assert response.status_code == 302
    stored = EngineType.get("11")
    assert stored.instruction == "Write very short sentences."
    assert stored.revision == engine.revision + 1
    [entry] = log_entries("11")
    assert entry.action_flag == CHANGE
    assert json.loads(entry.change_message) == [{"changed": {"fields": ["Instruction"]}}]
    assert entry.get_change_message() == "Changed Instruction."


def test_the_id_cannot_be_changed(client, editor, engine):
    client.force_login(editor)

    client.post(url("change", "11"), change_data(engine, engine_type="99", name="Renamed"))

    assert EngineType.get("11").name == "Renamed"
    assert EngineType.count("99") == 0


def test_a_stale_second_save_is_refused_and_overwrites_nothing(client, editor, second_editor, engine):
    # Both open the form at the same version...
    client.force_login(editor)
    first = change_data(engine, instruction="First editor's text.")
    other = client.__class__()
    other.force_login(second_editor)
    second = change_data(engine, name="Second editor's name", instruction="Second editor's text.")

    # ...the first save wins, the second is refused.
    assert client.post(url("change", "11"), first).status_code == 302
    response = other.post(url("change", "11"), second)

    assert response.status_code == 200
    page = response.content.decode()
    assert "changed by someone else since you opened it" in page
    assert "Nothing was saved" in page
    stored = EngineType.get("11")
    assert (stored.name, stored.instruction) == ("Financial press releases", "First editor's text.")
    assert [e.user for e in log_entries("11")] == [editor]


def test_saving_without_changes_writes_nothing(client, editor, engine):
    client.force_login(editor)

    response = client.post(url("change", "11"), change_data(engine), follow=True)

    assert "No fields changed." in response.content.decode()
    assert EngineType.get("11").revision == engine.revision
    assert log_entries("11") == []


def test_deactivating_is_unticking_active(client, editor, engine):
    client.force_login(editor)

    client.post(url("change", "11"), change_data(engine, active=None))

    assert EngineType.get("11").active is False
    assert log_entries("11")[0].get_change_message() == "Changed Active."


def test_unknown_engine_type_redirects_with_a_message(client, editor):
    client.force_login(editor)

    response = client.get(url("change", "nope"), follow=True)

    assert "with ID “nope” doesn\u2019t exist" in response.content.decode()


# --- delete --------------------------------------------------------------------------------------


def test_delete_confirms_then_deletes_the_engine_type_and_its_files(client, editor, engine):
    knowledge_file_add(engine_type="11", file_name="style.txt", content="Style guide")
    client.force_login(editor)

    confirmation = client.get(url("delete", "11")).content.decode()
    assert "Are you sure?" in confirmation and "Knowledge file: style.txt" in confirmation

    response = client.post(url("delete", "11"), {"post": "yes"})

    assert response.status_code == 302 and response["Location"] == reverse(CHANGELIST)
    assert EngineType.count("11") == 0
    assert KnowledgeFile.count("11") == 0
    assert log_entries("11")[-1].action_flag == DELETION


# --- permissions ---------------------------------------------------------------------------------


def test_staff_without_permissions_get_403(client, staff_user, engine):
    client.force_login(staff_user)

    for path in (reverse(CHANGELIST), url("change", "11"), url("preview", "11"), url("files", "11"), reverse(ADD)):
        assert client.get(path).status_code == 403, path


def test_non_staff_are_sent_to_the_login_page(client, user, engine):
    client.force_login(user)

    response = client.get(url("change", "11"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_view_only_staff_see_a_read_only_form_and_cannot_write(client, viewer, engine):
    client.force_login(viewer)

    response = client.get(url("change", "11"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "View engine type" in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert all(field.disabled for field in response.context["adminform"].form.fields.values())

    assert client.post(url("change", "11"), change_data(engine, name="Hacked")).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    assert client.post(reverse(ADD), form_data()).status_code == 403
    assert client.post(url("delete", "11"), {"post": "yes"}).status_code == 403
    assert client.post(url("files", "11"), {"action": "text", "title": "x", "content": "y"}).status_code == 403
    assert EngineType.get("11").name == "Financial press releases"
    assert KnowledgeFile.count("11") == 0


def test_change_permission_without_add_or_delete(client, changer, engine):
    client.force_login(changer)

    assert client.post(url("change", "11"), change_data(engine, name="Renamed")).status_code == 302
    assert EngineType.get("11").name == "Renamed"
    assert client.get(reverse(ADD)).status_code == 403
    assert client.get(url("delete", "11")).status_code == 403
    assert "deletelink" not in client.get(url("change", "11")).content.decode()


# --- history -------------------------------------------------------------------------------------


def test_history_lists_every_change_with_who_and_what(client, editor, engine):
    client.force_login(editor)
    client.post(url("change", "11"), change_data(engine, name="Renamed"))
    client.post(url("files", "11"), {"action": "text", "title": "style", "content": "Use plain words."})

    page = client.get(url("history", "11")).content.decode()

    assert "Changed Name." in page
    assert "Added knowledge file “style.txt”." in page
    assert page.count("editor") >= 2


def test_retention_days_is_edited_in_the_admin_and_refused_out_of_range(client, editor, engine):
    client.force_login(editor)
    assert 'name="retention_days"' in client.get(url("change", "11")).content.decode()
    response = client.post(url("change", "11"), change_data(engine, retention_days="30"))
    assert response.status_code == 302
    assert EngineType.get("11").retention_days == 30
    [entry] = log_entries("11")
    assert json.loads(entry.change_message) == [{"changed": {"fields": ["Retention (days)"]}}]

    refused = client.post(url("change", "11"), change_data(EngineType.get("11"), retention_days="-1"))
    assert refused.status_code == 200 and "greater than or equal to 0" in refused.content.decode()
    assert EngineType.get("11").retention_days == 30
