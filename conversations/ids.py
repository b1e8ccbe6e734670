"""Identifiers of conversations and messages, and the keys derived from them."""

import re
import time
import uuid

# Covers the SPA's own ids ("11_1732600000000") and uuids; no "#", which the message key uses as separator.
CONVERSATION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def is_valid_conversation_id(value: object) -> bool:
    return isinstance(value, str) and bool(CONVERSATION_ID_RE.fullmatch(value))


def new_conversation_id() -> str:
    return str(uuid.uuid4())


def new_message_id() -> str:
    """Sorts chronologically: milliseconds since the epoch, then randomness against ties."""
    return f"{time.time_ns() // 1_000_000:013d}-{uuid.uuid4().hex[:12]}"


def message_key(user_id: str, conversation_id: str) -> str:
    return f"{user_id}#{conversation_id}"
