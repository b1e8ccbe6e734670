"""Writes of engine types and knowledge files. Every change bumps the engine type's revision."""

import hashlib
import uuid
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from config.clock import utcnow
from config.errors import Conflict
from prompts.models import KnowledgeFile, Prompt
from prompts.selectors import knowledge_file_get, knowledge_file_list, prompt_get

PROMPT_FIELDS = ("name", "description", "instruction", "model_id", "temperature", "top_p", "max_tokens", "active")


def _condition_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def prompt_create(*, engine_type: str, updated_by: str | None = None, **fields: Any) -> Prompt:
    now = utcnow()
    prompt = Prompt(engine_type, created_at=now, updated_at=now, updated_by=updated_by, revision=1)
    for name, value in fields.items():
        if name not in PROMPT_FIELDS:
            raise TypeError(f"unknown prompt field {name!r}")
        setattr(prompt, name, value)
    try:
        prompt.save(condition=Prompt.engine_type.does_not_exist())
    except PutError as exc:
        if _condition_failed(exc):
            raise Conflict(f"Engine type {engine_type!r} already exists.", code="engine_type_exists") from exc
        raise
    return prompt


def prompt_update(
    *, engine_type: str, expected_version: int | None = None, updated_by: str | None = None, **fields: Any
) -> Prompt:
    """Change some fields. With ``expected_version`` the write fails if anyone saved since it was read."""
    prompt = prompt_get(engine_type=engine_type)
    if expected_version is not None and prompt.version != expected_version:
        raise Conflict("This engine type was changed by someone else since you opened it.", code="edit_conflict")
    actions = [Prompt.updated_at.set(utcnow()), Prompt.revision.add(1)]
    if updated_by is not None:
        actions.append(Prompt.updated_by.set(updated_by))
    for name, value in fields.items():
        if name not in PROMPT_FIELDS:
            raise TypeError(f"unknown prompt field {name!r}")
        attribute = getattr(Prompt, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    try:
        prompt.update(actions=actions)  # PynamoDB adds the version condition and increments it
    except UpdateError as exc:
        if _condition_failed(exc):
            raise Conflict(
                "This engine type was changed by someone else since you opened it.", code="edit_conflict"
            ) from exc
        raise
    return prompt


def prompt_delete(*, engine_type: str) -> None:
    prompt = prompt_get(engine_type=engine_type)
    with KnowledgeFile.batch_write() as batch:
        for knowledge_file in KnowledgeFile.query(engine_type):
            batch.delete(knowledge_file)
    try:
        prompt.delete()
    except DeleteError as exc:
        if _condition_failed(exc):
            raise Conflict("This engine type was changed by someone else.", code="edit_conflict") from exc
        raise


def prompt_touch(*, engine_type: str, updated_by: str | None = None) -> None:
    """Bump the revision after a knowledge-file change, so every process reloads the system prompt."""
    actions = [Prompt.revision.add(1), Prompt.updated_at.set(utcnow())]
    if updated_by is not None:
        actions.append(Prompt.updated_by.set(updated_by))
    # A file change must not be refused because the prompt's form was saved meanwhile: no version condition
    # (the loaded version makes PynamoDB increment it atomically rather than reset it).
    prompt_get(engine_type=engine_type).update(
        actions=actions, condition=Prompt.engine_type.exists(), add_version_condition=False
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
    prompt_get(engine_type=engine_type)
    now = utcnow()
    existing = knowledge_file_list(engine_type=engine_type)
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
    prompt_touch(engine_type=engine_type, updated_by=created_by)
    return knowledge_file


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
        actions.append(KnowledgeFile.file_name.set(file_name))
    if content is not None:
        actions += [
            KnowledgeFile.content.set(content),
            KnowledgeFile.char_count.set(len(content)),
            KnowledgeFile.size_bytes.set(len(content.encode())),
            KnowledgeFile.sha256.set(hashlib.sha256(content.encode()).hexdigest()),
        ]
    knowledge_file.update(actions=actions, condition=KnowledgeFile.file_id.exists())
    prompt_touch(engine_type=engine_type, updated_by=updated_by)
    return knowledge_file


def knowledge_file_delete(*, engine_type: str, file_id: str, updated_by: str | None = None) -> None:
    knowledge_file = knowledge_file_get(engine_type=engine_type, file_id=file_id)
    knowledge_file.delete()
    prompt_touch(engine_type=engine_type, updated_by=updated_by)
