"""The replay log of streamed answers: what a reconnecting socket reads before it follows the live frames.

``replay_log()`` is this process's log: Redis Streams (``redis_log.py``) when ``REDIS_URL`` is set, so every
server process reads what any of them wrote; else an in-process one (``memory_log.py``), enough for one process.
"""

import asyncio
import weakref

from django.conf import settings

from config.streams.log import Replay, ReplayLog
from config.streams.memory_log import MemoryReplayLog

_memory = MemoryReplayLog()
# A redis.asyncio client belongs to the loop that made it (tests run one loop per test).
_redis_logs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReplayLog]" = weakref.WeakKeyDictionary()


def replay_log() -> ReplayLog:
    if not settings.REDIS_URL:
        return _memory
    from config.streams.redis_log import RedisReplayLog

    loop = asyncio.get_running_loop()
    log = _redis_logs.get(loop)
    if log is None:
        log = _redis_logs[loop] = RedisReplayLog(settings.REDIS_URL)
    return log


__all__ = ["Replay", "ReplayLog", "replay_log"]
