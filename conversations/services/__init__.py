"""Writes and use cases of conversations. Callers import from here.

The chat turn (``TurnRun``, turn_run.py) is a pipeline: turn_begin.py → the model stream → turn_finish.py, joined by
the transaction parts of turn_parts.py; its events are in turn_events.py. conversations.py holds the plain writes.
"""

from conversations.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_delete_all,
    conversation_history_clear,
    conversation_import,
    conversation_messages_import,
    conversation_rename,
)
from conversations.services.export import EXPORT_FORMATS, conversation_export
from conversations.services.feedback import FEEDBACK_COMMENT_MAX_CHARS, FEEDBACK_RATINGS, feedback_set
from conversations.services.generations import (
    conversation_group,
    error_dump,
    generation_recover,
    generation_replay,
    generation_start,
    generation_stop,
    server_restarting,
)
from conversations.services.retention import turn_expiry
from conversations.services.turn_events import (
    TitleChanged,
    TurnDelta,
    TurnEnded,
    TurnEvent,
    TurnStarted,
    turn_event_dump,
    turn_event_load,
)
from conversations.services.turn_recovery import conversation_detail_recovered
from conversations.services.turn_run import TurnRun
from conversations.services.turn_types import TurnRequest

__all__ = [
    "EXPORT_FORMATS",
    "FEEDBACK_COMMENT_MAX_CHARS",
    "FEEDBACK_RATINGS",
    "TitleChanged",
    "TurnDelta",
    "TurnEnded",
    "TurnEvent",
    "TurnRequest",
    "TurnRun",
    "TurnStarted",
    "conversation_create",
    "conversation_delete",
    "conversation_delete_all",
    "conversation_detail_recovered",
    "conversation_export",
    "conversation_group",
    "conversation_history_clear",
    "conversation_import",
    "conversation_messages_import",
    "conversation_rename",
    "error_dump",
    "feedback_set",
    "generation_recover",
    "generation_replay",
    "generation_start",
    "generation_stop",
    "server_restarting",
    "turn_event_dump",
    "turn_event_load",
    "turn_expiry",
]
