"""No thread waits for the model: with more slow streams open than the I/O pool has threads, a DynamoDB-backed
request still runs. The check is ordering (the request finishes while every stream is still open), not timing."""

import asyncio

import pytest

from config.aio import io_pool
from conversations.services import TurnEnded, TurnRequest, TurnRun
from tests.bedrock_frames import answer

# Several turns write at once: moto needs the per-operation atomicity DynamoDB gives (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("engine", "plan_limits", "atomic_dynamodb")

IO_THREADS = 2
SLOW_STREAMS = 3 * IO_THREADS
HANG_GUARD_SECONDS = 60


@pytest.fixture
def small_io_pool(settings):
    settings.IO_THREADS = IO_THREADS
    io_pool.cache_clear()
    yield
    io_pool().shutdown(wait=False)
    io_pool.cache_clear()


async def turn(user: str, finished: list[str]) -> None:
    async def emit(event):
        if isinstance(event, TurnEnded):
            finished.append(user)

    request = TurnRequest(user_id=user, is_staff=False, engine_type="11", message="Hello?", conversation_id="c1")
    await TurnRun(request).run(emit)


async def test_a_dynamodb_backed_turn_finishes_while_more_streams_than_io_threads_wait(fake_bedrock, small_io_pool):
    held = [fake_bedrock.stream(answer("Slow ", "answer."), hold_after=2) for _ in range(SLOW_STREAMS)]
    fake_bedrock.stream(answer("Prompt ", "answer."))
    finished: list[str] = []
    slow = [asyncio.create_task(turn(f"local:slow{i}", finished)) for i in range(SLOW_STREAMS)]
    for raw in held:
        await raw.wait_held()  # every slow stream is open and waiting for its next token

    # History Query, begin and finish transactions, title: all in the pool. A pool held by stream readers would
    # never run them; the guard turns that hang into a failure.
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        await turn("local:prompt", finished)
    assert finished == ["local:prompt"]
    assert not any(raw.closed.is_set() for raw in held)

    for raw in held:
        raw.resume()
    await asyncio.gather(*slow)

    assert sorted(finished[1:]) == sorted(f"local:slow{i}" for i in range(SLOW_STREAMS))
