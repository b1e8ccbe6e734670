from datetime import UTC, datetime, timedelta

import pytest

from config.errors import NotFound
from prompts.models import EngineType, KnowledgeFile
from prompts.selectors import (
    engine_type_get,
    engine_type_list,
    engine_type_search,
    knowledge_file_get,
    knowledge_file_list,
)

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def test_engine_type_get_of_an_unknown_engine_type_is_not_found():
    with pytest.raises(NotFound) as failure:
        engine_type_get(engine_type="99")
    assert failure.value.code == "engine_type_not_found"


def test_engine_type_list_uses_the_index_not_a_scan_and_hides_inactive_ones(monkeypatch):
    EngineType("11", created_at=NOW, updated_at=NOW).save()
    EngineType("22", active=False, created_at=NOW, updated_at=NOW).save()

    def no_scan(*args, **kwargs):
        raise AssertionError("engine_type_list must not Scan")

    monkeypatch.setattr(EngineType, "scan", no_scan)

    assert [p.engine_type for p in engine_type_list()] == ["11"]
    assert [p.engine_type for p in engine_type_list(include_inactive=True)] == ["11", "22"]


def test_knowledge_files_are_listed_by_position_then_age():
    for file_id, position, age in (("a", 2, 0), ("b", 0, 1), ("c", 1, 3), ("d", 1, 2)):
        at = NOW - timedelta(minutes=age)
        KnowledgeFile("11", file_id, file_name=file_id, position=position, created_at=at, updated_at=at).save()
    KnowledgeFile("22", "other", file_name="other", created_at=NOW, updated_at=NOW).save()

    assert [f.file_id for f in knowledge_file_list(engine_type="11")] == ["b", "c", "d", "a"]


def test_knowledge_file_get_is_scoped_to_its_engine_type():
    KnowledgeFile("11", "f1", file_name="f1", created_at=NOW, updated_at=NOW).save()

    assert knowledge_file_get(engine_type="11", file_id="f1").file_name == "f1"
    with pytest.raises(NotFound) as failure:
        knowledge_file_get(engine_type="22", file_id="f1")
    assert failure.value.code == "file_not_found"


def test_engine_type_search_matches_id_or_name_ignoring_case_and_filters_on_active():
    EngineType("11", name="Financial", created_at=NOW, updated_at=NOW).save()
    EngineType("T5", name="Headlines", active=False, created_at=NOW, updated_at=NOW).save()

    def found(**criteria) -> list[str]:
        return [e.engine_type for e in engine_type_search(**criteria).results]

    assert found() == ["11", "T5"]
    assert found(query="HEADL") == ["T5"] and found(query="t5") == ["T5"]
    assert found(active=True) == ["11"] and found(active=False) == ["T5"]
    assert found(query="financial", active=False) == []
    assert engine_type_search(query="nothing").total == 2
