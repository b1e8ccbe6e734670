"""The replay log on Redis, shared by every server process (``REDIS_URL``).

Per key, a string holds the start entry and a stream the chunks and the end. Chunk ``i`` is stream entry
``0-(i+1)`` (``0-0`` is not a valid id) and the end is ``1-1``: Redis refuses an id that is not above the last one,
so a chunk is never logged twice, and resuming after chunk ``k`` is ``XRANGE (0-(k+1) +``. Each write is one
pipelined round trip that also renews the TTL; ``MAXLEN ~`` bounds the stream.
"""

import json

import redis.asyncio as redis
from django.conf import settings
from redis.exceptions import ResponseError

from config.streams.layers import REDIS_SOCKET_TIMEOUT_SECONDS
from config.streams.log import Entry, Replay

_END_ID = "1-1"


def _ids(key: str) -> tuple[str, str]:
    return f"replay:{key}:start", f"replay:{key}:chunks"


class RedisReplayLog:
    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS, decode_responses=True)

    async def start(self, key: str, entry: Entry) -> None:
        start_key, stream_key = _ids(key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(stream_key)
            pipe.set(start_key, json.dumps(entry), ex=settings.CHAT_REPLAY_SECONDS)
            await pipe.execute()

    async def _add(self, key: str, entry_id: str, entry: Entry) -> None:
        start_key, stream_key = _ids(key)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                stream_key,
                {"e": json.dumps(entry)},
                id=entry_id,
                maxlen=settings.CHAT_REPLAY_MAX_CHUNKS,
                approximate=True,
            )
            pipe.expire(stream_key, settings.CHAT_REPLAY_SECONDS)
            pipe.expire(start_key, settings.CHAT_REPLAY_SECONDS)
            results = await pipe.execute(raise_on_error=False)
        if isinstance(results[0], ResponseError) and "equal or smaller" not in str(results[0]):
            raise results[0]

    async def append(self, key: str, index: int, entry: Entry) -> None:
        await self._add(key, f"0-{index + 1}", entry)

    async def end(self, key: str, entry: Entry) -> None:
        await self._add(key, _END_ID, entry)

    async def read(self, key: str, *, after: int) -> Replay | None:
        start_key, stream_key = _ids(key)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(start_key)
            pipe.xrange(stream_key, min=f"(0-{after + 1}", max="+")
            start, entries = await pipe.execute()
        if start is None:
            return None
        chunks, end = [], None
        for entry_id, fields in entries:
            if entry_id == _END_ID:
                end = json.loads(fields["e"])
            else:
                chunks.append((int(entry_id.split("-")[1]) - 1, json.loads(fields["e"])))
        truncated = bool(chunks) and chunks[0][0] > after + 1
        return Replay(start=json.loads(start), chunks=chunks, end=end, truncated=truncated)
