"""The engine-type admin's own pages (prompts.admin_views): the system-prompt preview, and knowledge files
(upload with extraction, add text, view, reorder, delete, limits, audit)."""

import hashlib

from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from prompts.models import EngineType, KnowledgeFile
from prompts.selectors import knowledge_file_list
from prompts.services import engine_type_update, knowledge_file_add
from prompts.system_prompt import engine_type_config_get
from tests.prompts.documents import docx_with, pdf_scanned, pdf_with_text


def files_url(engine_type: str = "11") -> str:
    return reverse("admin:prompts_enginetypeentry_files", args=[engine_type])


def file_url(file_id: str, engine_type: str = "11") -> str:
    return reverse("admin:prompts_enginetypeentry_file", args=[engine_type, file_id])


def upload(client, name: str, data: bytes):
    return client.post(files_url(), {"action": "upload", "file": SimpleUploadedFile(name, data)})


def preview_url(engine_type: str = "11") -> str:
    return reverse("admin:prompts_enginetypeentry_preview", args=[engine_type])


def change_messages(engine_type: str = "11") -> list[str]:
    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=engine_type).order_by("pk")]


def test_uploaded_pdf_is_extracted_stored_and_effective(client, editor, engine):
    client.force_login(editor)
    data = pdf_with_text(["Interest rates rose to 3.5%.", "Exports fell."])

    response = upload(client, "rates.pdf", data)

    assert response.status_code == 302
    [stored] = knowledge_file_list(engine_type="11")
    text = "Interest rates rose to 3.5%.\nExports fell."
    assert (stored.file_name, stored.content, stored.content_type) == ("rates.pdf", text, "application/pdf")
    assert stored.size_bytes == len(data)
    assert stored.char_count == len(text)
    assert stored.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert stored.created_by == "editor"
    assert EngineType.get("11").revision == engine.revision + 1
    assert "### [1] rates.pdf\n" + text in engine_type_config_get(engine_type="11").system_text
    assert change_messages() == ["Added knowledge file “rates.pdf”."]
    page = client.get(files_url()).content.decode()
    assert "rates.pdf" in page and "added (" in page  # the success message


def test_uploaded_docx_is_extracted(client, editor, engine):
    client.force_login(editor)

    upload(client, "guide.docx", docx_with(["문체 지침", "Use the active voice."]))

    [stored] = knowledge_file_list(engine_type="11")
    assert stored.content == "문체 지침\nUse the active voice."


def test_scanned_pdf_is_refused_next_to_the_field_and_nothing_is_stored(client, editor, engine):
    client.force_login(editor)

    response = upload(client, "scan.pdf", pdf_scanned())

    assert response.status_code == 200
    assert "no text layer" in str(response.context["upload_form"].errors["file"])
    assert "Please correct the error below." in response.content.decode()
    assert KnowledgeFile.count("11") == 0
    assert EngineType.get("11").revision == engine.revision
    assert change_messages() == []


def test_binary_txt_is_refused(client, editor, engine):
    client.force_login(editor)

    response = upload(client, "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))

    assert "not readable text" in str(response.context["upload_form"].errors["file"])
    assert KnowledgeFile.count("11") == 0


def test_upload_size_limit(client, editor, engine, settings):
    settings.PROMPTS_MAX_UPLOAD_BYTES = 1000
    client.force_login(editor)

    response = upload(client, "big.txt", b"a" * 5000)

    assert "larger than the upload limit of 1000 bytes" in str(response.context["upload_form"].errors["file"])
    assert KnowledgeFile.count("11") == 0


def test_extracted_text_size_limit(client, editor, engine, settings):
    settings.PROMPTS_MAX_FILE_TEXT_BYTES = 100
    client.force_login(editor)

    response = upload(client, "long.txt", ("가" * 40).encode())  # 40 characters, 120 UTF-8 bytes

    errors = str(response.context["upload_form"].errors["file"])
    assert "120 bytes (UTF-8)" in errors and "at most 100 bytes" in errors
    assert KnowledgeFile.count("11") == 0


def test_files_per_engine_type_limit(client, editor, engine, settings):
    settings.PROMPTS_MAX_FILES_PER_ENGINE = 2
    knowledge_file_add(engine_type="11", file_name="a.txt", content="a")
    knowledge_file_add(engine_type="11", file_name="b.txt", content="b")
    client.force_login(editor)

    response = upload(client, "c.txt", b"c")

    assert "at most 2 are allowed" in str(response.context["upload_form"].errors["file"])
    assert KnowledgeFile.count("11") == 2


def test_total_context_limit(client, editor, engine, settings):
    settings.PROMPTS_MAX_CONTEXT_CHARS = len(engine.description) + len(engine.instruction) + 10
    client.force_login(editor)

    response = client.post(files_url(), {"action": "text", "title": "notes", "content": "x" * 11})

    assert "at most" in str(response.context["text_form"].errors["content"])
    assert KnowledgeFile.count("11") == 0
    assert client.post(files_url(), {"action": "text", "title": "notes", "content": "x" * 10}).status_code == 302


def test_add_text_directly(client, editor, engine):
    client.force_login(editor)

    client.post(files_url(), {"action": "text", "title": "Style guide", "content": "Short sentences only."})

    [stored] = knowledge_file_list(engine_type="11")
    assert (stored.file_name, stored.content, stored.content_type) == (
        "Style guide.txt",
        "Short sentences only.",
        "text/plain",
    )


def test_view_a_file(client, viewer, engine):
    stored = knowledge_file_add(engine_type="11", file_name="facts.md", content="# Facts\n<b>bold</b>")
    client.force_login(viewer)

    page = client.get(file_url(stored.file_id)).content.decode()

    assert "# Facts\n&lt;b&gt;bold&lt;/b&gt;" in page
    assert stored.sha256 in page
    assert "Delete this file" not in page  # view-only


def test_reorder_moves_files_and_the_system_prompt_follows(client, editor, engine):
    first = knowledge_file_add(engine_type="11", file_name="first.txt", content="FIRST")
    second = knowledge_file_add(engine_type="11", file_name="second.txt", content="SECOND")
    revision = EngineType.get("11").revision
    client.force_login(editor)

    response = client.post(files_url(), {"action": "down", "file_id": first.file_id})

    assert response.status_code == 302
    assert [f.file_id for f in knowledge_file_list(engine_type="11")] == [second.file_id, first.file_id]
    assert EngineType.get("11").revision == revision + 1
    text = engine_type_config_get(engine_type="11").system_text
    assert text.index("SECOND") < text.index("FIRST")
    assert change_messages()[-1] == "Changed position for knowledge file “first.txt”."

    client.post(files_url(), {"action": "up", "file_id": first.file_id})
    assert [f.file_id for f in knowledge_file_list(engine_type="11")] == [first.file_id, second.file_id]


def test_delete_a_file(client, editor, engine):
    stored = knowledge_file_add(engine_type="11", file_name="old.txt", content="OLD FACTS")
    revision = EngineType.get("11").revision
    client.force_login(editor)

    response = client.post(file_url(stored.file_id), {"action": "delete"})

    assert response.status_code == 302 and response["Location"] == files_url()
    assert KnowledgeFile.count("11") == 0
    assert EngineType.get("11").revision == revision + 1
    assert "OLD FACTS" not in engine_type_config_get(engine_type="11").system_text
    assert change_messages() == ["Deleted knowledge file “old.txt”."]


def test_view_only_staff_cannot_change_files(client, viewer, engine):
    stored = knowledge_file_add(engine_type="11", file_name="keep.txt", content="keep")
    client.force_login(viewer)

    assert client.get(files_url()).status_code == 200
    assert 'id="upload-form"' not in client.get(files_url()).content.decode()
    assert upload(client, "x.txt", b"x").status_code == 403
    assert client.post(files_url(), {"action": "up", "file_id": stored.file_id}).status_code == 403
    assert client.post(file_url(stored.file_id), {"action": "delete"}).status_code == 403
    assert KnowledgeFile.count("11") == 1


# --- preview -------------------------------------------------------------------------------------


def test_preview_shows_the_exact_system_prompt_with_an_estimate_and_the_cost(client, viewer, engine):
    knowledge_file_add(engine_type="11", file_name="facts.txt", content="Rates <rose> 3%.")
    client.force_login(viewer)

    response = client.get(preview_url())
    page = response.content.decode()

    preview = response.context["preview"]
    assert "Rates &lt;rose&gt; 3%." in page  # escaped, verbatim
    assert preview.config.system_text.startswith("A financial journalist.\n\n## Instructions\nWrite short sentences.")
    assert "### [1] facts.txt\nRates <rose> 3%." in preview.config.system_text
    assert preview.token_count_exact is False
    assert "estimate" in page
    assert preview.price_version != "unpriced"  # the default model is in usage/prices.json
    assert preview.input_cost_usd > 0
    assert f"${preview.input_cost_usd:.6f}" in page


def test_preview_after_an_edit_shows_the_new_text(client, editor, engine):
    engine_type_update(engine_type="11", instruction="Brand new instruction.")
    client.force_login(editor)

    assert "Brand new instruction." in client.get(preview_url()).content.decode()
