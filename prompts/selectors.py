"""Reads of engine types and their knowledge files (always by key or index, never a Scan)."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from config.errors import NotFound
from config.identifiers import ENGINE_TYPE_RE
from prompts.models import ENGINE_LISTING, EngineType, KnowledgeFile

FILE_ID_MAX_CHARS = 64  # file ids are uuids; anything longer names no file


def _engine_type_not_found() -> NotFound:
    return NotFound(_("Engine type not found"), code="engine_type_not_found")


def _file_not_found() -> NotFound:
    return NotFound(_("File not found"), code="file_not_found")


def engine_type_get(*, engine_type: str) -> EngineType:
    """The engine type; an id no engine type can have is not found either."""
    if not ENGINE_TYPE_RE.fullmatch(engine_type):
        raise _engine_type_not_found()
    try:
        return EngineType.get(engine_type)
    except EngineType.DoesNotExist as exc:
        raise _engine_type_not_found() from exc


def engine_type_list(*, include_inactive: bool = False) -> list[EngineType]:
    prompts = EngineType.all_engines.query(ENGINE_LISTING)
    return [p for p in prompts if include_inactive or p.active]


@dataclass(frozen=True)
class EngineTypeSearch:
    results: list[EngineType]
    total: int  # every engine type, whatever the search


def engine_type_search(*, query: str = "", active: bool | None = None) -> EngineTypeSearch:
    """Staff's list: the engine types, inactive ones included, whose id or name contains ``query`` (ignoring
    case), only the active or only the inactive ones if ``active`` says so. One Query, filtered in memory:
    there are a few dozen engine types at most."""
    engine_types = engine_type_list(include_inactive=True)
    needle = query.casefold()
    results = [
        item
        for item in engine_types
        if (needle in item.engine_type.casefold() or needle in item.name.casefold())
        and (active is None or item.active == active)
    ]
    return EngineTypeSearch(results=results, total=len(engine_types))


def knowledge_file_list(*, engine_type: str) -> list[KnowledgeFile]:
    files = KnowledgeFile.query(engine_type)
    return sorted(files, key=lambda f: (f.position, f.created_at))


def knowledge_file_get(*, engine_type: str, file_id: str) -> KnowledgeFile:
    """The knowledge file; ids no engine type or file can have are not found either."""
    if not ENGINE_TYPE_RE.fullmatch(engine_type):
        raise _engine_type_not_found()
    if len(file_id) > FILE_ID_MAX_CHARS:
        raise _file_not_found()
    try:
        return KnowledgeFile.get(engine_type, file_id)
    except KnowledgeFile.DoesNotExist as exc:
        raise _file_not_found() from exc


@dataclass(frozen=True)
class EngineTypeDetail:
    engine_type: EngineType
    files: list[KnowledgeFile]


def engine_type_detail_get(*, engine_type: str, for_staff: bool) -> EngineTypeDetail:
    """An engine type and its knowledge files, in system-prompt order.

    The files are the system prompt: only staff get them. An inactive engine type is not offered to users, so
    for them it is not found.
    """
    item = engine_type_get(engine_type=engine_type)
    if not item.active and not for_staff:
        raise _engine_type_not_found()
    return EngineTypeDetail(engine_type=item, files=knowledge_file_list(engine_type=engine_type) if for_staff else [])
