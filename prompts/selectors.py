"""Reads of engine types and their knowledge files (always by key or index, never a Scan)."""

from config.errors import NotFound
from prompts.models import ENGINE_LISTING, EngineType, KnowledgeFile


def engine_type_get(*, engine_type: str) -> EngineType:
    try:
        return EngineType.get(engine_type)
    except EngineType.DoesNotExist as exc:
        raise NotFound("Engine type not found", code="engine_type_not_found") from exc


def engine_type_list(*, include_inactive: bool = False) -> list[EngineType]:
    prompts = EngineType.all_engines.query(ENGINE_LISTING)
    return [p for p in prompts if include_inactive or p.active]


def knowledge_file_list(*, engine_type: str) -> list[KnowledgeFile]:
    files = KnowledgeFile.query(engine_type)
    return sorted(files, key=lambda f: (f.position, f.created_at))


def knowledge_file_get(*, engine_type: str, file_id: str) -> KnowledgeFile:
    try:
        return KnowledgeFile.get(engine_type, file_id)
    except KnowledgeFile.DoesNotExist as exc:
        raise NotFound("File not found", code="file_not_found") from exc
