from datetime import UTC, datetime

import pytest
from pynamodb.exceptions import PutError

from prompts.models import ENGINE_LISTING, EngineType, KnowledgeFile

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def test_engine_type_round_trips_with_defaults_revision_and_version():
    EngineType("11", name="금융 보도자료", instruction="Be brief.", created_at=NOW, updated_at=NOW).save()

    stored = EngineType.get("11")

    assert (stored.name, stored.instruction, stored.description) == ("금융 보도자료", "Be brief.", "")
    assert (stored.active, stored.revision, stored.version, stored.listing) == (True, 1, 1, ENGINE_LISTING)
    assert stored.model_id is None and stored.temperature is None


def test_every_engine_type_is_listed_by_one_index_query_in_key_order():
    for engine_type in ("22", "11", "T5"):
        EngineType(engine_type, created_at=NOW, updated_at=NOW).save()

    assert [p.engine_type for p in EngineType.all_engines.query(ENGINE_LISTING)] == ["11", "22", "T5"]


def test_a_stale_engine_type_cannot_overwrite_a_newer_one():
    EngineType("11", created_at=NOW, updated_at=NOW).save()
    first, second = EngineType.get("11"), EngineType.get("11")
    first.instruction = "first"
    first.save()

    second.instruction = "second"
    with pytest.raises(PutError):
        second.save()

    assert EngineType.get("11").instruction == "first"


def test_knowledge_files_are_items_under_their_engine_type():
    for engine_type, file_id in (("11", "f2"), ("11", "f1"), ("22", "f3")):
        KnowledgeFile(
            engine_type, file_id, file_name=f"{file_id}.txt", content="text", created_at=NOW, updated_at=NOW
        ).save()

    assert [f.file_id for f in KnowledgeFile.query("11")] == ["f1", "f2"]
    assert KnowledgeFile.get("22", "f3").file_name == "f3.txt"
