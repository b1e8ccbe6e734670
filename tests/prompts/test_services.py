"""Validation, limits, locking and revisions of the engine-type services (shared by the admin and the REST API)."""

import pytest

from config.errors import Conflict, NotFound, ValidationFailed
from prompts import services
from prompts.models import EngineType, KnowledgeFile
from prompts.selectors import engine_type_get, knowledge_file_list
from prompts.services import (
    engine_type_create,
    engine_type_update,
    knowledge_file_add,
    knowledge_file_move,
    knowledge_file_reorder,
    knowledge_file_update,
    knowledge_file_upload,
)
from tests.prompts.documents import pdf_with_text


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"temperature": 1.01}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"top_p": "0.5"}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"model_id": "has spaces"}, "model_id"),
        ({"name": "n" * 101}, "name"),
        ({"instruction": 5}, "instruction"),
        ({"active": "yes"}, "active"),
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(engine, fields, bad_field):
    with pytest.raises(ValidationFailed) as caught:
        engine_type_update(engine_type="11", **fields)

    assert caught.value.code == "invalid"
    assert list(caught.value.extra["fields"]) == [bad_field]
    assert engine_type_get(engine_type="11").revision == engine.revision


def test_model_ids_profiles_and_arns_are_accepted_and_empty_means_default(engine):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"

    assert engine_type_update(engine_type="11", model_id=arn).model_id == arn
    assert engine_type_update(engine_type="11", model_id="").model_id is None


def test_engine_type_ids_are_validated():
    with pytest.raises(ValidationFailed) as caught:
        engine_type_create(engine_type="a#b")

    assert list(caught.value.extra["fields"]) == ["engine_type"]


def test_text_field_byte_limit(engine, settings):
    settings.PROMPTS_MAX_TEXT_FIELD_BYTES = 30

    engine_type_update(engine_type="11", instruction="가" * 10)  # 30 bytes
    with pytest.raises(ValidationFailed, match="31 bytes"):
        engine_type_update(engine_type="11", instruction="가" * 10 + "a")


def test_instruction_counts_towards_the_context_limit(engine, settings):
    knowledge_file_add(engine_type="11", file_name="a.txt", content="x" * 50)
    settings.PROMPTS_MAX_CONTEXT_CHARS = len(engine.description) + 50 + 20

    engine_type_update(engine_type="11", instruction="i" * 20)
    with pytest.raises(ValidationFailed) as caught:
        engine_type_update(engine_type="11", instruction="i" * 21)

    assert caught.value.code == "context_too_large"


def test_stale_expected_version_is_refused(engine):
    engine_type_update(engine_type="11", expected_version=engine.version, name="First")

    with pytest.raises(Conflict) as caught:
        engine_type_update(engine_type="11", expected_version=engine.version, name="Second")

    assert caught.value.code == "edit_conflict"
    assert engine_type_get(engine_type="11").name == "First"


def test_the_version_check_is_atomic_on_the_write(engine, monkeypatch):
    """A save landing between the service's read and its write is refused by DynamoDB's condition."""
    snapshot = engine_type_get(engine_type="11")
    engine_type_update(engine_type="11", name="Saved in between")  # another process, after our read
    monkeypatch.setattr(services, "engine_type_get", lambda *, engine_type: snapshot)

    with pytest.raises(Conflict) as caught:
        engine_type_update(engine_type="11", expected_version=engine.version, instruction="Stale write")

    assert caught.value.code == "edit_conflict"
    stored = EngineType.get("11")
    assert (stored.name, stored.instruction) == ("Saved in between", engine.instruction)


def test_file_changes_bump_the_revision(engine):
    a = knowledge_file_add(engine_type="11", file_name="a.txt", content="A")
    b = knowledge_file_add(engine_type="11", file_name="b.txt", content="B")
    knowledge_file_update(engine_type="11", file_id=a.file_id, content="AA")
    knowledge_file_reorder(engine_type="11", file_ids=[b.file_id, a.file_id])

    assert engine_type_get(engine_type="11").revision == engine.revision + 4
    assert [(f.file_name, f.position) for f in knowledge_file_list(engine_type="11")] == [("b.txt", 0), ("a.txt", 1)]


def test_reorder_must_list_every_file_once(engine):
    a = knowledge_file_add(engine_type="11", file_name="a.txt", content="A")
    knowledge_file_add(engine_type="11", file_name="b.txt", content="B")

    with pytest.raises(ValidationFailed):
        knowledge_file_reorder(engine_type="11", file_ids=[a.file_id])
    with pytest.raises(ValidationFailed):
        knowledge_file_reorder(engine_type="11", file_ids=[a.file_id, a.file_id])


def test_file_limits_apply_to_the_add_and_update_services(engine, settings):
    settings.PROMPTS_MAX_FILE_TEXT_BYTES = 10
    stored = knowledge_file_add(engine_type="11", file_name="a.txt", content="0123456789")

    with pytest.raises(ValidationFailed) as too_large:
        knowledge_file_add(engine_type="11", file_name="b.txt", content="01234567890")
    with pytest.raises(ValidationFailed) as update_too_large:
        knowledge_file_update(engine_type="11", file_id=stored.file_id, content="01234567890")
    with pytest.raises(ValidationFailed) as empty:
        knowledge_file_add(engine_type="11", file_name="c.txt", content="  \n")
    with pytest.raises(ValidationFailed) as no_name:
        knowledge_file_add(engine_type="11", file_name=" ", content="x")

    assert (too_large.value.code, update_too_large.value.code, empty.value.code) == (
        "text_too_large",
        "text_too_large",
        "file_empty",
    )
    assert list(no_name.value.extra["fields"]) == ["file_name"]
    assert KnowledgeFile.get("11", stored.file_id).content == "0123456789"


def test_upload_extracts_and_records_the_original_size(engine):
    data = pdf_with_text(["Hello PDF"])

    stored = knowledge_file_upload(engine_type="11", file_name="hello.pdf", data=data, created_by="ops")

    assert (stored.content, stored.size_bytes, stored.char_count) == ("Hello PDF", len(data), 9)


def test_upload_to_an_unknown_engine_type(db):
    with pytest.raises(NotFound):
        knowledge_file_upload(engine_type="nope", file_name="a.txt", data=b"a")


def test_a_re_created_engine_type_never_repeats_a_cached_revision(engine):
    from prompts.services import engine_type_delete
    from prompts.system_prompt import engine_type_config_get

    old = engine_type_config_get(engine_type="11")  # now cached in this process
    engine_type_delete(engine_type="11")
    engine_type_create(engine_type="11", instruction="A brand-new engine type under the old id.")

    config = engine_type_config_get(engine_type="11")
    assert config.revision > old.revision
    assert "A brand-new engine type under the old id." in config.system_text


def test_knowledge_file_move_swaps_with_the_neighbour_and_does_nothing_at_the_ends(engine):
    first = knowledge_file_add(engine_type="11", file_name="first.txt", content="FIRST")
    second = knowledge_file_add(engine_type="11", file_name="second.txt", content="SECOND")
    revision = engine_type_get(engine_type="11").revision

    assert knowledge_file_move(engine_type="11", file_id=first.file_id, direction="up") is None
    assert knowledge_file_move(engine_type="11", file_id=second.file_id, direction="down") is None
    assert engine_type_get(engine_type="11").revision == revision  # nothing written

    moved = knowledge_file_move(engine_type="11", file_id=first.file_id, direction="down", updated_by="editor")

    assert moved.file_id == first.file_id
    assert [f.file_id for f in knowledge_file_list(engine_type="11")] == [second.file_id, first.file_id]
    assert engine_type_get(engine_type="11").revision == revision + 1
    with pytest.raises(NotFound):
        knowledge_file_move(engine_type="11", file_id="gone", direction="up")
