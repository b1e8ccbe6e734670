"""Writes of engine types and knowledge files. Every change bumps the engine type's revision.

Validation and limits live here, not in the admin form, so the admin and the REST API enforce the same rules.
"""

import hashlib
import math
import re
import uuid
from typing import Any, Literal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from config.clock import utcnow
from config.dynamodb.transactions import condition_failed
from config.errors import Conflict, NotFound, ValidationFailed
from config.identifiers import ENGINE_TYPE_RE
from prompts.engine_type_current import EngineTypeCurrent as EngineTypeCurrent  # the chat turn's view (re-exported)
from prompts.extraction import text_extract
from prompts.models import EngineType, KnowledgeFile
from prompts.selectors import engine_type_get, knowledge_file_get, knowledge_file_list
from prompts.system_prompt import EngineTypeConfig as EngineTypeConfig  # re-exported with EngineTypeCurrent

ENGINE_TYPE_FIELDS = (
    "name",
    "description",
    "instruction",
    "model_id",
    "temperature",
    "top_p",
    "max_tokens",
    "active",
    "retention_days",
)
# Ten years; a longer retention is "forever" (0). Kept in step with DynamoDB TTL's epoch-seconds attribute.
RETENTION_DAYS_MAX = 3650
# Bedrock model ids, inference-profile ids and ARNs.
MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:/_-]{0,199}$")
NAME_MAX_CHARS = 100
FILE_NAME_MAX_CHARS = 200


def _invalid(field: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, code=code, fields={field: [message]})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _engine_type_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as stored (``model_id`` "" means the default), or ``ValidationFailed`` listing every bad one."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(fields)
    for name, value in fields.items():
        if name not in ENGINE_TYPE_FIELDS:
            raise TypeError(f"unknown prompt field {name!r}")
        if name == "model_id" and value == "":
            cleaned[name] = value = None
        message = _engine_type_field_error(name, value)
        if message:
            errors[name] = [message]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], code="invalid", fields=errors)
    return cleaned


def _engine_type_field_error(name: str, value: Any) -> str | None:
    if name == "name":
        if not isinstance(value, str) or len(value) > NAME_MAX_CHARS:
            return f"The name must be text of at most {NAME_MAX_CHARS} characters."
    elif name in ("description", "instruction"):
        limit = settings.PROMPTS_MAX_TEXT_FIELD_BYTES
        if not isinstance(value, str):
            return f"The {name} must be text."
        if len(value.encode()) > limit:
            return f"The {name} is {len(value.encode()):,} bytes (UTF-8); at most {limit:,} are allowed."
    elif name == "model_id":
        if value is not None and (not isinstance(value, str) or not MODEL_ID_RE.fullmatch(value)):
            return "Enter a Bedrock model id or inference profile (letters, digits and . : / _ -)."
    elif name in ("temperature", "top_p"):
        if value is not None and (not _is_number(value) or not 0 <= value <= 1):
            return "Enter a number between 0 and 1."
    elif name == "max_tokens":
        limit = settings.PROMPTS_MAX_OUTPUT_TOKENS
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit):
            return f"Enter a whole number between 1 and {limit:,}."
    elif name == "retention_days":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= RETENTION_DAYS_MAX:
            return f"Enter a whole number of days between 0 (keep forever) and {RETENTION_DAYS_MAX:,}."
    elif name == "active" and not isinstance(value, bool):
        return "Active must be true or false."
    return None


def _context_check(*, description: str, instruction: str, files_chars: int) -> None:
    total = len(description) + len(instruction) + files_chars
    limit = settings.PROMPTS_MAX_CONTEXT_CHARS
    if total > limit:
        raise ValidationFailed(
            f"The system prompt would be {total:,} characters (description, instruction and knowledge files); "
            f"at most {limit:,} are allowed. Shorten the text or remove a file.",
            code="context_too_large",
        )


def engine_type_create(*, engine_type: str, updated_by: str | None = None, **fields: Any) -> EngineType:
    if not isinstance(engine_type, str) or not ENGINE_TYPE_RE.fullmatch(engine_type):
        raise _invalid("engine_type", _("The id may hold 1 to 32 letters, digits, “-” and “_”."))
    fields = _engine_type_fields_clean(fields)
    _context_check(
        description=fields.get("description") or "", instruction=fields.get("instruction") or "", files_chars=0
    )
    now = utcnow()
    # Revisions start at the creation time in milliseconds, not at 1: an engine type deleted and created again
    # under the same id must never repeat a revision that a process may still hold in its cache. (Each later
    # change adds 1 and takes longer than a millisecond, so a re-creation always starts above the old ones.)
    revision = int(now.timestamp() * 1000)
    prompt = EngineType(engine_type, created_at=now, updated_at=now, updated_by=updated_by, revision=revision)
    for name, value in fields.items():
        setattr(prompt, name, value)
    try:
        prompt.save(condition=EngineType.engine_type.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            raise Conflict(f"Engine type {engine_type!r} already exists.", code="engine_type_exists") from exc
        raise
    return prompt


def engine_type_update(
    *, engine_type: str, expected_version: int | None = None, updated_by: str | None = None, **fields: Any
) -> EngineType:
    """Change some fields. With ``expected_version`` the write fails if anyone saved since it was read.

    The check is atomic: the update is conditioned on the stored version equalling the loaded one, and the
    loaded one must equal ``expected_version``, so a save landing between the read and the write is refused too.
    """
    fields = _engine_type_fields_clean(fields)
    prompt = engine_type_get(engine_type=engine_type)
    if expected_version is not None and prompt.version != expected_version:
        raise Conflict(_("This engine type was changed by someone else since you opened it."), code="edit_conflict")
    if "description" in fields or "instruction" in fields:
        _context_check(
            description=fields.get("description", prompt.description) or "",
            instruction=fields.get("instruction", prompt.instruction) or "",
            files_chars=sum(f.char_count for f in knowledge_file_list(engine_type=engine_type)),
        )
    actions = [EngineType.updated_at.set(utcnow()), EngineType.revision.add(1)]
    if updated_by is not None:
        actions.append(EngineType.updated_by.set(updated_by))
    for name, value in fields.items():
        attribute = getattr(EngineType, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        prompt.update(actions=actions)  # PynamoDB adds the version condition and increments it
    except UpdateError as exc:
        if condition_failed(exc):
            raise Conflict(
                "This engine type was changed by someone else since you opened it.", code="edit_conflict"
            ) from exc
        raise
    return prompt


def engine_type_delete(*, engine_type: str, expected_version: int | None = None) -> None:
    prompt = engine_type_get(engine_type=engine_type)
    if expected_version is not None and prompt.version != expected_version:
        raise Conflict(_("This engine type was changed by someone else since you opened it."), code="edit_conflict")
    with KnowledgeFile.batch_write() as batch:
        for knowledge_file in KnowledgeFile.query(engine_type):
            batch.delete(knowledge_file)
    try:
        prompt.delete()
    except DeleteError as exc:
        if condition_failed(exc):
            raise Conflict(_("This engine type was changed by someone else."), code="edit_conflict") from exc
        raise


def engine_type_touch(*, engine_type: str, updated_by: str | None = None) -> None:
    """Bump the revision after a knowledge-file change, so every process reloads the system prompt."""
    actions = [EngineType.revision.add(1), EngineType.updated_at.set(utcnow())]
    if updated_by is not None:
        actions.append(EngineType.updated_by.set(updated_by))
    # A file change must not be refused because the prompt's form was saved meanwhile: no version condition
    # (the loaded version makes PynamoDB increment it atomically rather than reset it).
    engine_type_get(engine_type=engine_type).update(
        actions=actions, condition=EngineType.engine_type.exists(), add_version_condition=False
    )


def _file_name_clean(file_name: Any) -> str:
    file_name = file_name.strip() if isinstance(file_name, str) else ""
    if not file_name or len(file_name) > FILE_NAME_MAX_CHARS:
        raise _invalid("file_name", f"Give the file a name of 1 to {FILE_NAME_MAX_CHARS} characters.")
    return file_name


def _file_content_check(*, file_name: str, content: Any) -> None:
    if not isinstance(content, str) or not content.strip():
        raise _invalid("content", f"“{file_name}” contains no text.", code="file_empty")
    size = len(content.encode())
    limit = settings.PROMPTS_MAX_FILE_TEXT_BYTES
    if size > limit:
        raise _invalid(
            "content",
            f"The text of “{file_name}” is {size:,} bytes (UTF-8); one file may hold at most {limit:,} bytes "
            "(DynamoDB stores each file in one item of at most 400 KB). Split the document.",
            code="text_too_large",
        )


def _file_count_check(existing: list[KnowledgeFile]) -> None:
    limit = settings.PROMPTS_MAX_FILES_PER_ENGINE
    if len(existing) >= limit:
        raise ValidationFailed(
            f"This engine type already has {len(existing)} knowledge files; at most {limit} are allowed. "
            "Delete one first.",
            code="too_many_files",
        )


def knowledge_file_add(
    *,
    engine_type: str,
    file_name: str,
    content: str,
    content_type: str = "text/plain",
    size_bytes: int | None = None,
    created_by: str | None = None,
) -> KnowledgeFile:
    prompt = engine_type_get(engine_type=engine_type)
    file_name = _file_name_clean(file_name)
    _file_content_check(file_name=file_name, content=content)
    existing = knowledge_file_list(engine_type=engine_type)
    _file_count_check(existing)
    _context_check(
        description=prompt.description,
        instruction=prompt.instruction,
        files_chars=sum(f.char_count for f in existing) + len(content),
    )
    now = utcnow()
    knowledge_file = KnowledgeFile(
        engine_type,
        str(uuid.uuid4()),
        file_name=file_name,
        content=content,
        content_type=content_type,
        size_bytes=size_bytes if size_bytes is not None else len(content.encode()),
        char_count=len(content),
        sha256=hashlib.sha256(content.encode()).hexdigest(),
        position=(max((f.position for f in existing), default=-1) + 1),
        created_at=now,
        updated_at=now,
        created_by=created_by,
    )
    knowledge_file.save()
    engine_type_touch(engine_type=engine_type, updated_by=created_by)
    return knowledge_file


def knowledge_file_upload(
    *, engine_type: str, file_name: str, data: bytes, created_by: str | None = None
) -> KnowledgeFile:
    """Extract the text of an uploaded .txt/.md/.csv/.pdf/.docx file and add it as a knowledge file."""
    engine_type_get(engine_type=engine_type)
    file_name = _file_name_clean(file_name)
    _file_count_check(knowledge_file_list(engine_type=engine_type))  # before the costly extraction
    extracted = text_extract(file_name=file_name, data=data)
    return knowledge_file_add(
        engine_type=engine_type,
        file_name=file_name,
        content=extracted.text,
        content_type=extracted.content_type,
        size_bytes=extracted.size_bytes,
        created_by=created_by,
    )


def knowledge_file_update(
    *,
    engine_type: str,
    file_id: str,
    file_name: str | None = None,
    content: str | None = None,
    updated_by: str | None = None,
) -> KnowledgeFile:
    knowledge_file = knowledge_file_get(engine_type=engine_type, file_id=file_id)
    actions = [KnowledgeFile.updated_at.set(utcnow())]
    if file_name is not None:
        file_name = _file_name_clean(file_name)
        actions.append(KnowledgeFile.file_name.set(file_name))
    if content is not None:
        _file_content_check(file_name=file_name or knowledge_file.file_name, content=content)
        prompt = engine_type_get(engine_type=engine_type)
        others = [f for f in knowledge_file_list(engine_type=engine_type) if f.file_id != file_id]
        _context_check(
            description=prompt.description,
            instruction=prompt.instruction,
            files_chars=sum(f.char_count for f in others) + len(content),
        )
        actions += [
            KnowledgeFile.content.set(content),
            KnowledgeFile.char_count.set(len(content)),
            KnowledgeFile.size_bytes.set(len(content.encode())),
            KnowledgeFile.sha256.set(hashlib.sha256(content.encode()).hexdigest()),
        ]
    knowledge_file.update(actions=actions, condition=KnowledgeFile.file_id.exists())
    engine_type_touch(engine_type=engine_type, updated_by=updated_by)
    return knowledge_file


def knowledge_file_reorder(
    *, engine_type: str, file_ids: list[str], updated_by: str | None = None
) -> list[KnowledgeFile]:
    """Put the files in the given order (every file id exactly once); the system prompt follows it."""
    files = {f.file_id: f for f in knowledge_file_list(engine_type=engine_type)}
    if sorted(file_ids) != sorted(files):
        raise _invalid("file_ids", _("List every knowledge file of this engine type exactly once."))
    for position, file_id in enumerate(file_ids):
        knowledge_file = files[file_id]
        if knowledge_file.position != position:
            knowledge_file.update(
                actions=[KnowledgeFile.position.set(position), KnowledgeFile.updated_at.set(utcnow())],
                condition=KnowledgeFile.file_id.exists(),
            )
    engine_type_touch(engine_type=engine_type, updated_by=updated_by)
    return [files[file_id] for file_id in file_ids]


def knowledge_file_move(
    *, engine_type: str, file_id: str, direction: Literal["up", "down"], updated_by: str | None = None
) -> KnowledgeFile | None:
    """Swap a file with its neighbour above or below; None, writing nothing, when it is already at that end."""
    order = [f.file_id for f in knowledge_file_list(engine_type=engine_type)]
    if file_id not in order:
        raise NotFound(_("File not found"), code="file_not_found")
    index = order.index(file_id)
    target = index + (-1 if direction == "up" else 1)
    if not 0 <= target < len(order):
        return None
    order[index], order[target] = order[target], order[index]
    return knowledge_file_reorder(engine_type=engine_type, file_ids=order, updated_by=updated_by)[target]


def knowledge_file_delete(*, engine_type: str, file_id: str, updated_by: str | None = None) -> None:
    knowledge_file = knowledge_file_get(engine_type=engine_type, file_id=file_id)
    knowledge_file.delete()
    engine_type_touch(engine_type=engine_type, updated_by=updated_by)


def engine_type_upsert(
    *, engine_type: str, expected_version: int | None = None, updated_by: str | None = None, **fields: Any
) -> tuple[EngineType, bool]:
    """Change the given fields, creating the engine type if it does not exist yet: ``(prompt, created)``.

    The REST API's PUT/POST: a fresh install has no rows, and the SPA's admin panel only ever saves.
    """
    try:
        return engine_type_update(
            engine_type=engine_type, expected_version=expected_version, updated_by=updated_by, **fields
        ), False
    except NotFound:
        if expected_version is not None or not ENGINE_TYPE_RE.fullmatch(engine_type):
            raise  # a URL whose id no engine type can have names nothing to create: 404, as for reads
    try:
        return engine_type_create(engine_type=engine_type, updated_by=updated_by, **fields), True
    except Conflict:
        # Created by someone else between our read and our write: apply the change to theirs.
        return engine_type_update(engine_type=engine_type, updated_by=updated_by, **fields), False
