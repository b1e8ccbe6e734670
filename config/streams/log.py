"""The replay log's contract, shared by its in-process and Redis implementations.

One log per key (a user's conversation): the ``start`` entry of its current answer, its chunks by index (each
stored once, under the index the producer gave it), and its ``end`` entry. Starting a new answer replaces the
log. Entries are JSON-able dicts. A log is kept ``CHAT_REPLAY_SECONDS`` after its last write and holds at most
``CHAT_REPLAY_MAX_CHUNKS`` chunks (the oldest are dropped; a resume behind them is refused as truncated).
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

Entry = dict[str, Any]


@dataclass(frozen=True)
class Replay:
    start: Entry
    chunks: list[tuple[int, Entry]] = field(default_factory=list)  # (index, entry), index > the one asked for
    end: Entry | None = None
    truncated: bool = False  # chunks right after the one asked for were dropped by the length bound


class ReplayLog(Protocol):
    async def start(self, key: str, entry: Entry) -> None:
        """Begin a new answer under ``key``: what was logged there before is dropped."""

    async def append(self, key: str, index: int, entry: Entry) -> None:
        """Log chunk ``index``; an index logged already is not logged again."""

    async def end(self, key: str, entry: Entry) -> None:
        """Log the answer's end."""

    async def read(self, key: str, *, after: int) -> Replay | None:
        """The answer logged under ``key`` with its chunks after ``after``; None if nothing is (still) logged."""
