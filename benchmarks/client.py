"""WebSocket clients of the benchmark (the ``websockets`` library, asyncio): one chat turn, and many at once."""

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MESSAGE = "Benchmark question: how do I plan a three-day trip to Jeju island on a small budget?"
PARALLEL_CONNECTS = 50
CONNECT_TIMEOUT_SECONDS = 30
# A turn fails when the server stays silent this long (every wait is bounded; nothing hangs the run).
FRAME_TIMEOUT_SECONDS = 60
MAX_FRAME_BYTES = 1 << 22


@dataclass
class Turn:
    """What the client saw of one ``sendMessage``: wall-clock and monotonic times, chunks, and how it ended."""

    sent_wall: float = 0.0
    sent: float = 0.0
    first_chunk: float | None = None
    chunk_times: list[float] = field(default_factory=list)
    tokens: int = 0  # words received: the fake model sends one word per token, coalesced or not
    ended: float | None = None
    outcome: str = "pending"  # chat_end | error:<code> | dropped | timeout | protocol:<what>

    @property
    def ok(self) -> bool:
        return self.outcome == "chat_end"

    def wall(self, at: float | None) -> float | None:
        """A monotonic time of this turn as wall-clock time (to line it up with the DynamoDB proxy's log)."""
        return None if at is None else self.sent_wall + (at - self.sent)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/ws"


async def open_socket(ws_url: str, session_key: str | None) -> ClientConnection:
    origin = ws_url.replace("ws://", "http://", 1).split("/ws", 1)[0]
    headers = {"Cookie": f"sessionid={session_key}"} if session_key else {}
    return await connect(
        ws_url,
        additional_headers=headers,
        origin=origin,
        open_timeout=CONNECT_TIMEOUT_SECONDS,
        ping_interval=None,  # no client pings: they would add frames to the measured streams
        compression=None,
        max_size=MAX_FRAME_BYTES,
    )


async def run_turn(
    ws: ClientConnection, *, engine: str, conversation_id: str, message: str, start: asyncio.Event | None = None
) -> Turn:
    """Send one message and read its frames until ``chat_end``, an ``error`` frame, a close or a silence.

    After any other outcome than ``chat_end`` the socket may still carry frames of that turn: callers that go on
    open a new socket.
    """
    turn = Turn()
    frame = {
        "action": "sendMessage",
        "message": message,
        "engineType": engine,
        "conversationId": conversation_id,
        "idempotencyKey": str(uuid.uuid4()),
    }
    payload = json.dumps(frame)
    if start is not None:
        await start.wait()
    turn.sent_wall, turn.sent = time.time(), time.perf_counter()
    started = False
    try:
        await ws.send(payload)
        while True:
            raw = await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_SECONDS)
            now = time.perf_counter()
            data = json.loads(raw)
            kind = data.get("type")
            if kind == "ai_start" and data.get("conversationId", conversation_id) == conversation_id:
                started = True
            elif kind == "ai_chunk":
                if not started:
                    turn.outcome = "protocol:ai_chunk before this turn's ai_start"
                    break
                if data.get("chunk_index") != len(turn.chunk_times):
                    turn.outcome = f"protocol:chunk_index {data.get('chunk_index')} != {len(turn.chunk_times)}"
                    break
                if turn.first_chunk is None:
                    turn.first_chunk = now
                turn.chunk_times.append(now)
                turn.tokens += len(str(data.get("chunk", "")).split())
            elif kind == "chat_end":
                turn.ended, turn.outcome = now, "chat_end"
                break
            elif kind == "error":
                turn.ended, turn.outcome = now, f"error:{data.get('code', 'unknown')}"
                break
    except TimeoutError:
        turn.outcome = "timeout"
    except ConnectionClosed:
        turn.outcome = "dropped"
    return turn


def new_conversation_id(engine: str) -> str:
    """The SPA's own id format: ``<engine>_<epoch ms>`` (unique enough with a random suffix)."""
    return f"{engine}_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}"


@dataclass
class LoadResult:
    streams: int
    connect_failures: int = 0
    turns: list[Turn] = field(default_factory=list)
    connect_seconds: float = 0.0
    wall_seconds: float = 0.0


async def open_many(ws_url: str, sessions: list[str | None], parallel: int) -> tuple[list, int]:
    """Open one socket per session, ``parallel`` handshakes at a time; failures are counted, not raised."""
    gate = asyncio.Semaphore(parallel)

    async def one(session: str | None):
        async with gate:
            try:
                return await open_socket(ws_url, session)
            except (OSError, TimeoutError, ConnectionClosed, Exception):  # any failed handshake counts as a failure
                return None

    sockets = await asyncio.gather(*(one(s) for s in sessions))
    return [s for s in sockets if s is not None], sum(1 for s in sockets if s is None)


async def close_many(sockets: list[ClientConnection]) -> None:
    async def one(ws: ClientConnection) -> None:
        with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
            await asyncio.wait_for(ws.close(), 10)

    await asyncio.gather(*(one(ws) for ws in sockets))


async def load(
    ws_url: str, sessions: list[str | None], *, engine: str, message: str, parallel_connects: int, deadline_s: float
) -> LoadResult:
    """Open ``len(sessions)`` sockets, then start one turn on every socket at the same instant."""
    result = LoadResult(streams=len(sessions))
    clock = time.perf_counter()
    sockets, result.connect_failures = await open_many(ws_url, sessions, parallel_connects)
    result.connect_seconds = time.perf_counter() - clock
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(
            run_turn(ws, engine=engine, conversation_id=new_conversation_id(engine), message=message, start=start)
        )
        for ws in sockets
    ]
    await asyncio.sleep(0.2)  # every task is parked on the event before it fires
    clock = time.perf_counter()
    start.set()
    done, pending = await asyncio.wait(tasks, timeout=deadline_s)
    result.wall_seconds = time.perf_counter() - clock
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    result.turns = [t.result() for t in done]
    result.turns += [Turn(outcome="timeout") for _ in pending]
    await close_many(sockets)
    return result
