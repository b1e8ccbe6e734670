"""Test data made through the code's own services (engine types, usage) or models (conversations, messages).

``NOW`` is the instant the ``frozen_time`` fixture (tests/conftest.py) freezes the clock at.
"""

from datetime import UTC, datetime
from typing import Any

from config.clock import utcnow
from conversations.ids import message_key, new_message_id
from conversations.models import Conversation, Message
from prompts.models import EngineType
from prompts.services import engine_type_create
from usage.services import UsageCharge, quota_reserve, usage_record

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"

ENGINE_TYPE_DEFAULTS = {
    "name": "Financial press releases",
    "description": "A financial journalist.",
    "instruction": "Write short sentences.",
    "updated_by": "seed",
}


def engine_type_make(engine_type: str = "11", **fields: Any) -> EngineType:
    """An engine type stored by ``engine_type_create`` (active unless ``active=False``); ``fields`` override
    ``ENGINE_TYPE_DEFAULTS``."""
    return engine_type_create(engine_type=engine_type, **{**ENGINE_TYPE_DEFAULTS, **fields})


def usage_spend(
    *, user_id: str, engine_type: str = "11", input_tokens: int, output_tokens: int = 0, kind: str = "chat"
) -> UsageCharge:
    """One settled model call of ``SONNET``: a reservation through the quota, then its usage recorded.

    The reservation asks for a single output token, so it is granted while any allowance is left; the recorded
    tokens may exceed what is left (as a real call's actual usage may). Raises ``QuotaExceeded`` when the
    month's (or the engine type's) allowance is already fully allocated.
    """
    reservation = quota_reserve(
        user_id=user_id, engine_type=engine_type, estimated_input_tokens=0, max_output_tokens=1, is_staff=False
    )
    return usage_record(
        reservation=reservation,
        model_id=SONNET,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        kind=kind,
    )


def conversation_make(
    *, user_id: str, conversation_id: str = "c1", engine_type: str = "11", **fields: Any
) -> Conversation:
    """A stored conversation head; ``created_at``/``updated_at`` default to ``utcnow()``."""
    now = utcnow()
    fields.setdefault("created_at", now)
    fields.setdefault("updated_at", fields["created_at"])
    conversation = Conversation(
        user_id, conversation_id, engine_type=engine_type, user_engine=f"{user_id}#{engine_type}", **fields
    )
    conversation.save()
    return conversation


def message_make(
    *,
    user_id: str,
    conversation_id: str = "c1",
    role: str = "user",
    content: str = "hi",
    message_id: str | None = None,
    **fields: Any,
) -> Message:
    """A stored message under the owner's conversation key; ``message_id`` defaults to a new (time-ordered) id,
    ``created_at`` to ``utcnow()``. The conversation head is neither needed nor touched."""
    fields.setdefault("created_at", utcnow())
    message = Message(
        message_key(user_id, conversation_id), message_id or new_message_id(), role=role, content=content, **fields
    )
    message.save()
    return message
