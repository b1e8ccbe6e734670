"""The replay log of one server process, in memory (no ``REDIS_URL``)."""

import time
from dataclasses import dataclass, field

from django.conf import settings

from config.streams.log import Entry, Replay


@dataclass
class _Answer:
    start: Entry
    chunks: dict[int, Entry] = field(default_factory=dict)
    end: Entry | None = None
    dropped_before: int = 0  # the first index still held
    expires: float = 0.0


# Expired answers are dropped by a sweep at most this often (a sweep walks every answer the process holds).
SWEEP_SECONDS = 1.0


class MemoryReplayLog:
    def __init__(self) -> None:
        self._answers: dict[str, _Answer] = {}
        self._swept = 0.0

    def _live(self, key: str) -> _Answer | None:
        now = time.monotonic()
        if now - self._swept >= SWEEP_SECONDS:
            self._swept = now
            for stale in [k for k, answer in self._answers.items() if answer.expires <= now]:
                del self._answers[stale]
        answer = self._answers.get(key)
        if answer is not None and answer.expires <= now:
            del self._answers[key]
            return None
        return answer

    def _touch(self, answer: _Answer) -> None:
        answer.expires = time.monotonic() + settings.CHAT_REPLAY_SECONDS

    async def start(self, key: str, entry: Entry) -> None:
        self._live(key)
        answer = self._answers[key] = _Answer(start=entry)
        self._touch(answer)

    async def append(self, key: str, index: int, entry: Entry) -> None:
        answer = self._live(key)
        if answer is None or index in answer.chunks or index < answer.dropped_before:
            return
        answer.chunks[index] = entry
        while len(answer.chunks) > settings.CHAT_REPLAY_MAX_CHUNKS:
            oldest = min(answer.chunks)
            del answer.chunks[oldest]
            answer.dropped_before = oldest + 1
        self._touch(answer)

    async def end(self, key: str, entry: Entry) -> None:
        answer = self._live(key)
        if answer is not None:
            answer.end = entry
            self._touch(answer)

    async def read(self, key: str, *, after: int) -> Replay | None:
        answer = self._live(key)
        if answer is None:
            return None
        chunks = sorted((index, entry) for index, entry in answer.chunks.items() if index > after)
        return Replay(start=answer.start, chunks=chunks, end=answer.end, truncated=answer.dropped_before > after + 1)
