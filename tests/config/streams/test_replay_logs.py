"""The replay log's contract, held by both implementations: the in-process one and Redis Streams (the shared
real server of tests/conftest.py)."""

import asyncio

import pytest

from config.streams.memory_log import MemoryReplayLog
from config.streams.redis_log import RedisReplayLog


@pytest.fixture(params=["memory", "redis"])
def log(request, settings):
    settings.CHAT_REPLAY_SECONDS = 600
    settings.CHAT_REPLAY_MAX_CHUNKS = 20_000
    if request.param == "memory":
        return MemoryReplayLog()
    server = request.getfixturevalue("redis_server")
    server.flush()
    return RedisReplayLog(server.url)


def chunk(index: int) -> dict:
    return {"event": {"kind": "delta", "text": f"t{index}", "index": index}}


async def test_reads_the_start_the_chunks_after_an_index_and_the_end(log):
    await log.start("c", {"messageId": "m1"})
    for index in range(4):
        await log.append("c", index, chunk(index))

    running = await log.read("c", after=1)
    await log.end("c", {"end": True})
    finished = await log.read("c", after=-1)

    assert running.start == {"messageId": "m1"} and running.end is None
    assert running.chunks == [(2, chunk(2)), (3, chunk(3))] and not running.truncated
    assert [i for i, _ in finished.chunks] == [0, 1, 2, 3] and finished.end == {"end": True}


async def test_a_chunk_logged_twice_is_kept_once_and_a_new_answer_replaces_the_old(log):
    await log.start("c", {"messageId": "m1"})
    await log.append("c", 0, chunk(0))
    await log.append("c", 0, {"event": "a retried copy"})
    assert (await log.read("c", after=-1)).chunks == [(0, chunk(0))]

    await log.start("c", {"messageId": "m2"})
    replaced = await log.read("c", after=-1)
    assert replaced.start == {"messageId": "m2"} and replaced.chunks == [] and replaced.end is None


async def test_nothing_logged_reads_as_none_and_keys_are_separate(log):
    await log.start("a", {"messageId": "m1"})
    assert await log.read("b", after=-1) is None


async def test_the_log_expires_after_its_ttl(log, settings):
    settings.CHAT_REPLAY_SECONDS = 1
    await log.start("c", {"messageId": "m1"})
    await log.append("c", 0, chunk(0))
    await asyncio.sleep(1.3)
    assert await log.read("c", after=-1) is None


async def test_a_resume_behind_the_length_bound_is_reported_truncated(log, settings):
    settings.CHAT_REPLAY_MAX_CHUNKS = 5
    await log.start("c", {"messageId": "m1"})
    for index in range(400):  # Redis trims whole nodes (MAXLEN ~): far enough past the bound to trim
        await log.append("c", index, chunk(index))

    behind = await log.read("c", after=-1)
    recent = await log.read("c", after=398)

    assert behind.truncated and behind.chunks[0][0] > 0
    assert not recent.truncated and recent.chunks == [(399, chunk(399))]
