"""Identifiers of conversations and messages, and the keys derived from them."""

import itertools
import re
import threading
import time
import uuid

# Covers the SPA's own ids ("11_1732600000000") and uuids; no "#", which the message key uses as separator.
CONVERSATION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def is_valid_conversation_id(value: object) -> bool:
    return isinstance(value, str) and bool(CONVERSATION_ID_RE.fullmatch(value))


def new_conversation_id() -> str:
    return str(uuid.uuid4())


_sequence_lock = threading.Lock()
_last_millis = 0
_sequence = itertools.count()


def new_message_id() -> str:
    """Sorts chronologically: milliseconds since the epoch, a per-process sequence within the millisecond (so ids
    made in one process keep their order), then randomness against ties between processes."""
    global _last_millis, _sequence
    with _sequence_lock:
        millis = max(time.time_ns() // 1_000_000, _last_millis)
        if millis != _last_millis:
            _last_millis, _sequence = millis, itertools.count()
        position = next(_sequence)
    return message_id_at(millis, position)


def message_id_at(millis: int, position: int) -> str:
    """The id format: 13-digit milliseconds, then a position within them and randomness (8 hex digits)."""
    return f"{millis:013d}-{position:04x}{uuid.uuid4().hex[:8]}"


def message_key(user_id: str, conversation_id: str) -> str:
    return f"{user_id}#{conversation_id}"


def idempotency_record_key(user_id: str, idempotency_key: str) -> str:
    """The ``IdempotencyRecord`` key of a client's ``idempotencyKey``: scoped to its user."""
    return f"{user_id}#{idempotency_key}"


def user_engine_key(user_id: str, engine_type: str) -> str:
    """The ``by_user_engine`` index key: one user's conversations of one engine type."""
    return f"{user_id}#{engine_type}"
