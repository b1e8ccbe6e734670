"""A server process's drain on SIGTERM: no new work, running work finishes for a while, the rest is cut short.

The serve command (config/management/commands/serve.py) calls ``drain()``. Apps register what it waits for and
what it closes: ``work_track(task, interrupt=...)`` for work that may run to its end within the grace (the chat
generations) and ``connection_track(close)`` for open connections, closed once the work is done.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# How long interrupted work may take to store what it has, after the grace.
INTERRUPT_SAVE_SECONDS = 10.0

_state = {"draining": False}
_work: dict[asyncio.Task, Callable[[], None]] = {}
_connections: dict[object, Callable[[], Awaitable[None]]] = {}


def draining() -> bool:
    return _state["draining"]


def work_track(task: asyncio.Task, *, interrupt: Callable[[], None]) -> None:
    """Wait for ``task`` when draining; past the grace, ``interrupt()`` it (it then ends on its own)."""
    _work[task] = interrupt
    task.add_done_callback(lambda done: _work.pop(done, None))


def connection_track(owner: object, close: Callable[[], Awaitable[None]]) -> None:
    _connections[owner] = close


def connection_untrack(owner: object) -> None:
    _connections.pop(owner, None)


async def drain(grace: float) -> tuple[int, int]:
    """Refuse new work, wait up to ``grace`` s for the running work, interrupt what is left, close every connection.

    Returns (finished, interrupted)."""
    _state["draining"] = True
    running = set(_work)
    done, left = await asyncio.wait(running, timeout=grace) if running else (set(), set())
    for task in left:
        _work.get(task, task.cancel)()
    if left:
        await asyncio.wait(left, timeout=INTERRUPT_SAVE_SECONDS)
    closing = [close() for close in list(_connections.values())]
    if closing:
        await asyncio.gather(*closing, return_exceptions=True)
    logger.info("drained: %d finished, %d interrupted", len(done), len(left))
    return len(done), len(left)


def drain_reset() -> None:
    """Back to serving (tests drain in-process)."""
    _state["draining"] = False
