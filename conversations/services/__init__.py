"""Writes and use cases of conversations. Callers import from here.

The chat turn (``TurnRun``, turn_run.py) is a pipeline: turn_begin.py → the model stream → turn_finish.py, joined by
the transaction parts of turn_parts.py; its events are in turn_events.py. conversations.py holds the plain writes.
"""

from conversations.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_history_clear,
    conversation_import,
    conversation_messages_import,
    conversation_rename,
)
from conversations.services.turn_events import TitleChanged, TurnDelta, TurnEnded, TurnEvent, TurnStarted
from conversations.services.turn_run import TurnRun
from conversations.services.turn_types import TurnRequest

__all__ = [
    "TitleChanged",
    "TurnDelta",
    "TurnEnded",
    "TurnEvent",
    "TurnRequest",
    "TurnRun",
    "TurnStarted",
    "conversation_create",
    "conversation_delete",
    "conversation_history_clear",
    "conversation_import",
    "conversation_messages_import",
    "conversation_rename",
]
