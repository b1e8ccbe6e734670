"""Streaming under load: the product and the async relay, level by level, on the same machine in the same run.

Per answer shape (tokens per answer, one fake-model delay between tokens) it starts a DynamoDB stand-in
(benchmarks/standin.py: an in-memory DynamoDB of the project's design, each request atomic, after a
per-request latency during which requests overlap), the product and the relay under daphne, one process each.
Each level gets freshly reset tables, ``streams`` sockets of different users, and one ``sendMessage`` on every
socket at once. The server process is sampled for CPU seconds and RSS while the level runs, the stand-in for CPU
seconds.
"""

import asyncio
import time
from collections import Counter

from benchmarks import client, report
from benchmarks.client import MESSAGE, PARALLEL_CONNECTS, ws_url
from benchmarks.stack import Stack, cpu_seconds, fake_model_env, rss_kib

# A load level's turns that are not done by then count as timeouts (keeps a full run within minutes).
LEVEL_BASE_SECONDS = 20
LEVEL_SECONDS_PER_STREAM = 0.08
# After a level the product still stores answers and titles: the next step waits until its CPU is quiet.
QUIET_CPU_SHARE = 0.05
QUIET_SAMPLE_SECONDS = 0.5
QUIET_MAX_SECONDS = 120
RSS_SAMPLE_SECONDS = 0.2
WARM_UP_STREAMS = 2


class ProcessSample:
    """CPU seconds used and the highest RSS of one process between ``start()`` and ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_kib = 0
        self._cpu_start = 0.0
        self.cpu = 0.0
        self._task: asyncio.Task | None = None

    async def _watch(self) -> None:
        while True:
            self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(self.pid))
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    def start(self) -> None:
        self._cpu_start = cpu_seconds(self.pid)
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        self.cpu = cpu_seconds(self.pid) - self._cpu_start
        self.peak_rss_kib = max(self.peak_rss_kib, rss_kib(self.pid))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def quiet(pid: int) -> float:
    """Wait until the process uses less than ``QUIET_CPU_SHARE`` of a core (bounded); the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < QUIET_MAX_SECONDS:
        before = cpu_seconds(pid)
        await asyncio.sleep(QUIET_SAMPLE_SECONDS)
        if cpu_seconds(pid) - before < QUIET_CPU_SHARE * QUIET_SAMPLE_SECONDS:
            break
    return round(time.monotonic() - started, 1)


def load_figures(result: client.LoadResult, tokens: int, sample: ProcessSample) -> dict:
    outcomes = Counter(t.outcome for t in result.turns)
    chunks = sum(len(t.chunk_times) for t in result.turns)
    delivered = sum(t.tokens for t in result.turns)
    gaps = [b - a for t in result.turns for a, b in zip(t.chunk_times, t.chunk_times[1:], strict=False)]
    first = [t.first_chunk - t.sent for t in result.turns if t.first_chunk is not None]
    chunk_times = [c for t in result.turns for c in t.chunk_times]
    streaming = max(chunk_times) - min(chunk_times) if len(chunk_times) > 1 else 0
    dropped = outcomes.get("dropped", 0)
    errors = result.connect_failures + sum(n for o, n in outcomes.items() if o not in ("chat_end", "dropped"))
    wall = result.wall_seconds
    return {
        "streams": result.streams,
        "completed": outcomes.get("chat_end", 0),
        "errors": errors,
        "dropped": dropped,
        "outcomes": dict(outcomes),
        "connect_failures": result.connect_failures,
        "connect_seconds": round(result.connect_seconds, 3),
        "chunks": chunks,
        "tokens": delivered,
        "tokens_expected": result.streams * tokens,
        "wall_seconds": round(wall, 3),
        "tokens_per_s": round(delivered / wall, 1) if wall else None,
        "chunks_per_s": round(chunks / wall, 1) if wall else None,
        "streaming_chunks_per_s": round(chunks / streaming, 1) if streaming else None,
        "gap_p50_ms": report.summary_ms(gaps)["p50_ms"],
        "gap_p99_ms": report.summary_ms(gaps)["p99_ms"],
        "first_chunk_p50_ms": report.summary_ms(first)["p50_ms"],
        "first_chunk_p99_ms": report.summary_ms(first)["p99_ms"],
        "cpu_seconds": round(sample.cpu, 2),
        "cpu_s_per_1000_chunks": round(sample.cpu / chunks * 1000, 3) if chunks else None,
        "peak_rss_mib": round(sample.peak_rss_kib / 1024, 1),
    }


async def measure_level(
    pid: int, url: str, sessions: list, *, tokens: int, engine: str, deadline: float, standin_pid: int
) -> dict:
    sample, standin = ProcessSample(pid), ProcessSample(standin_pid)
    sample.start()
    standin.start()
    try:
        result = await client.load(
            ws_url(url),
            sessions,
            engine=engine,
            message=MESSAGE,
            parallel_connects=PARALLEL_CONNECTS,
            deadline_s=deadline,
        )
    finally:
        await sample.stop()
        await standin.stop()
    return {**load_figures(result, tokens, sample), "standin_cpu_seconds": round(standin.cpu, 2)}


def _ratios(ours: dict, relay: dict) -> dict:
    names = ("tokens_per_s", "chunks_per_s", "streaming_chunks_per_s", "gap_p99_ms", "first_chunk_p99_ms")
    ratios = {name: report.ratio(ours[name], relay[name]) for name in names}
    ratios["cpu_seconds"] = report.ratio(ours["cpu_seconds"], relay["cpu_seconds"])
    return ratios


async def measure_shape(
    args, stack: Stack, *, label: str, tokens: int, levels: list[int], sessions: list[str], model_env: dict
) -> dict:
    """Every level of one answer shape, ours then the relay at each level, against a fresh stand-in."""
    standin, standin_url = stack.start_standin(f"standin-{label}", args.standin_latency_ms)
    helper = stack.start_helper(f"helper-{label}", standin_url)
    engine = helper.call("setup")["engines"][0]["engine_type"]
    server, base = stack.start_daphne(f"server-{label}", "config.asgi:application", model_env, standin_url)
    relay, relay_base = stack.start_daphne(f"relay-{label}", "benchmarks.relay:application", model_env, standin_url)
    out_levels = []
    try:
        for url, warm in ((base, sessions[:WARM_UP_STREAMS]), (relay_base, [None] * WARM_UP_STREAMS)):
            await client.load(
                ws_url(url), warm, engine=engine, message=MESSAGE, parallel_connects=WARM_UP_STREAMS, deadline_s=60
            )
        await quiet(server.pid)
        for streams in levels:
            helper.call("reset")  # a fresh, small table set per level
            deadline = LEVEL_BASE_SECONDS + streams * LEVEL_SECONDS_PER_STREAM + tokens * args.load_delay
            ours = await measure_level(
                server.pid,
                base,
                sessions[:streams],
                tokens=tokens,
                engine=engine,
                deadline=deadline,
                standin_pid=standin.pid,
            )
            ours["quiet_after_s"] = await quiet(server.pid)
            bare = await measure_level(
                relay.pid,
                relay_base,
                [None] * streams,
                tokens=tokens,
                engine=engine,
                deadline=deadline,
                standin_pid=standin.pid,
            )
            out_levels.append({"streams": streams, "ours": ours, "relay": bare, "ratio": _ratios(ours, bare)})
            print(
                f"  {label} {streams:>5} streams: ours {ours['tokens_per_s']} tokens/s ({ours['chunks_per_s']} "
                f"chunks/s), relay {bare['tokens_per_s']} tokens/s, errors {ours['errors']}+{ours['dropped']}",
                flush=True,
            )
    finally:
        for process in (relay, server, helper.process, standin):
            stack.stop(process)
    return {
        "answer_tokens": tokens,
        "token_delay_s": args.load_delay,
        "levels": out_levels,
    }


async def measure_load(args, stack: Stack, sessions: list[str]) -> dict:
    """The answer shapes: ``load_tokens`` (40) on every level, then ``long_tokens`` (400) on ``long_levels``."""
    shapes = {}
    for label, tokens, levels in (
        ("short", args.load_tokens, args.levels),
        ("long", args.long_tokens, args.long_levels),
    ):
        if not levels:
            continue
        model_env = fake_model_env(tokens, args.load_delay, args.first_token_delay)
        shapes[label] = {
            "server_env": model_env,
            **await measure_shape(
                args, stack, label=label, tokens=tokens, levels=levels, sessions=sessions, model_env=model_env
            ),
        }
    return {
        "standin": {
            "what": "benchmarks/standin.py: an in-memory DynamoDB of the project's design (aiohttp, DynamoDB's JSON "
            "protocol; each request atomic after the latency, during which requests overlap; checked by the "
            "suite's stand-in pass, make test-standin), not moto and not DynamoDB; fresh tables per level "
            "(reset, then the project's create_tables and seed)",
            "latency_ms": args.standin_latency_ms,
        },
        "tokens_per_s_means": "words received by all clients (the fake model sends one word per token) / wall",
        "chunks_per_s_means": "ai_chunk frames received by all clients / (last turn done - all sends)",
        "streaming_chunks_per_s_means": "chunks received / (last chunk - first chunk, over all streams)",
        "level_deadline": f"{LEVEL_BASE_SECONDS} s + {LEVEL_SECONDS_PER_STREAM} s per stream + the answer's "
        "token delays; later turns = timeouts",
        "gap_means": "time between two consecutive ai_chunk frames of one stream, pooled over all streams",
        "cpu_means": "user + system CPU seconds of the daphne process while the level ran (all its threads); "
        "standin_cpu_seconds: the same for the DynamoDB stand-in (a whole core per second = it set the pace)",
        "shapes": shapes,
    }
