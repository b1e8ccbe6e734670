"""The benchmark runner: ``python -m benchmarks.run [--smoke] [--output report.json]`` (docs/performance.md).

It starts moto server behind a counting proxy, the product under daphne with production settings and the fake
model, and a bare relay on the same stack; drives real WebSocket and HTTP clients on 127.0.0.1; prints a table
and writes every figure to a JSON report. Every loop is bounded in count and time, and every child process is
stopped on exit, Ctrl-C or error.
"""

import argparse
import asyncio
import http.client
import json
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import client, report
from benchmarks.stack import Helper, Stack, rss_kib

MESSAGE = "Benchmark question: how do I plan a three-day trip to Jeju island on a small budget?"
SETTLE_QUIET_SECONDS = 0.5
SETTLE_MAX_SECONDS = 30
TURN_QUIET_SECONDS = 0.1
PARALLEL_CONNECTS = 50
HTTP_TIMEOUT_SECONDS = 30
# A load level's turns that are not done by then count as timeouts (keeps a full run within minutes).
LEVEL_BASE_SECONDS = 20
LEVEL_SECONDS_PER_STREAM = 0.08
LEVEL_DRAIN_SECONDS = 120
# A busy server can go a while without a DynamoDB request (building botocore clients, queued in its thread pool).
LEVEL_QUIET_SECONDS = 3

FULL = {
    "turns": 200,
    "turns_per_conversation": 4,
    "request_samples": 5,
    "levels": [1, 10, 100, 500, 1000],
    "idle_sockets": 1000,
    "list_sizes": [100, 10_000],
    "list_samples": 100,
    "latency_tokens": 20,
    "latency_delay": 0.0,
    "load_tokens": 40,
    "load_delay": 0.05,
    "first_token_delay": 0.0,
    "series_seconds": 90.0,
    "list_seconds": 60.0,
}
SMOKE = {
    **FULL,
    "turns": 3,
    "turns_per_conversation": 3,
    "request_samples": 1,
    "levels": [1, 3],
    "idle_sockets": 10,
    "list_sizes": [5, 50],
    "list_samples": 5,
    "latency_tokens": 5,
    "load_tokens": 5,
    "load_delay": 0.0,
    "series_seconds": 30.0,
    "list_seconds": 15.0,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks the runner works (seconds)")
    parser.add_argument("--output", default="benchmarks/results/latest.json", help="where the JSON report goes")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the logs and databases of the run")
    for name, value in FULL.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, list):
            parser.add_argument(flag, type=lambda s: [int(x) for x in s.split(",")], default=None, help=f"e.g. {value}")
        else:
            parser.add_argument(flag, type=type(value), default=None, help=f"default {value}")
    args = parser.parse_args(argv)
    if args.list_sizes is not None and len(args.list_sizes) != 2:
        parser.error("--list-sizes takes two sizes, e.g. 100,10000")
    preset = SMOKE if args.smoke else FULL
    for name, value in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def fake_model_env(tokens: int, delay: float, first_token_delay: float) -> dict:
    return {
        "FAKE_MODEL_ANSWER_TOKENS": tokens,
        "FAKE_MODEL_DELAY_SECONDS": delay,
        "FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS": first_token_delay,
        # Quotas still run on every turn; the limit is set so the benchmark's users never reach it.
        "USAGE_LIMIT_FREE": 10**12,
    }


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/ws"


# -- DynamoDB request counting --------------------------------------------------------------------------------------


def proxy_seq(stack: Stack) -> int:
    return stack.proxy_log(10**18)["seq"]


def settle(
    stack: Stack, since: int, quiet: float = SETTLE_QUIET_SECONDS, max_seconds: float = SETTLE_MAX_SECONDS
) -> list:
    """The proxy's entries after ``since``, once no new request has arrived for ``quiet`` seconds (bounded)."""
    deadline = time.monotonic() + max_seconds
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        seq = proxy_seq(stack)
        if seq != last:
            last, quiet_since = seq, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            break
        time.sleep(0.02)
    return stack.proxy_log(since)["entries"]


def reset_dynamodb(helper: Helper) -> None:
    """Empty tables again (moto's TransactWriteItems deep-copies whole tables, so its cost grows with their size)."""
    helper.call("reset")


def count_summary(samples: list[dict]) -> dict:
    """Only turns that ended with ``chat_end`` count (a failed turn has no first token to count up to)."""
    ok = [s for s in samples if s["outcome"] == "chat_end"]
    before = [s["before_first_token"] for s in ok]
    total = [s["total"] for s in ok]
    by_op: Counter = Counter()
    for s in ok:
        for op, n in s["by_operation"].items():
            by_op[op] = max(by_op[op], n)

    def stats(values: list[int]) -> dict:
        if not values:
            return {"min": None, "max": None, "median": None}
        return {"min": min(values), "max": max(values), "median": statistics.median(values)}

    return {
        "samples": len(samples),
        "failed_samples": len(samples) - len(ok),
        "before_first_token": stats(before),
        "total": stats(total),
        "by_operation_max": dict(by_op),
        "detail": samples,
    }


async def reopen(ws, base: str, session: str):
    """A new socket after a failed turn, so none of that turn's late frames are read as the next turn's."""
    await client.close_many([ws])
    return await client.open_socket(ws_url(base), session)


async def counted_turn(stack: Stack, ws, *, engine: str, conversation_id: str) -> tuple[bool, dict]:
    since = proxy_seq(stack)
    turn = await client.run_turn(ws, engine=engine, conversation_id=conversation_id, message=MESSAGE)
    entries = settle(stack, since)
    first = turn.wall(turn.first_chunk)
    before = [e for e in entries if first is not None and e[1] < first]
    return turn.ok, {
        "outcome": turn.outcome,
        "before_first_token": len(before),
        "total": len(entries),
        "by_operation": dict(Counter(e[2] for e in entries)),
        "before_first_token_operations": [e[2] for e in before],
        "operations_in_order": [e[2] for e in entries],
    }


async def reset_and_warm(stack: Stack, helper: Helper, ws, base: str, session: str, engine: str):
    """Fresh tables, then one turn that is not measured: the server's caches see the re-seeded engine type."""
    reset_dynamodb(helper)
    since = proxy_seq(stack)
    turn = await client.run_turn(ws, engine=engine, conversation_id=client.new_conversation_id(engine), message=MESSAGE)
    settle(stack, since)  # its trailing writes (title, settlement) must not land in the next measured turn
    return ws if turn.ok else await reopen(ws, base, session)


# -- measurements ---------------------------------------------------------------------------------------------------


async def measure_latency(
    args, stack: Stack, helper: Helper, base: str, session: str, engine: str
) -> tuple[dict, dict]:
    """Time to the first token (warm and cold prompt cache), then DynamoDB requests per kind of turn."""
    ws = await client.open_socket(ws_url(base), session)
    try:
        first = await client.run_turn(
            ws, engine=engine, conversation_id=client.new_conversation_id(engine), message=MESSAGE
        )
        first_ms = (
            None if first.first_chunk is None else (first.first_chunk - first.sent - args.first_token_delay) * 1000
        )
        series = {}
        for cache in ("warm", "cold"):
            ws = await reset_and_warm(stack, helper, ws, base, session, engine)
            added, without_dynamodb, errors, outcomes = [], [], 0, Counter()
            conversation = client.new_conversation_id(engine)
            deadline = time.monotonic() + args.series_seconds
            for i in range(args.turns):
                if time.monotonic() > deadline:
                    break  # reported: n below the requested number of turns
                if i % args.turns_per_conversation == 0:
                    conversation = client.new_conversation_id(engine)
                if cache == "cold":
                    # A new revision is what every process's prompt cache keys on: the next turn must rebuild it.
                    helper.call("touch", engine=engine)
                since = proxy_seq(stack)
                turn = await client.run_turn(ws, engine=engine, conversation_id=conversation, message=MESSAGE)
                if not turn.ok:
                    ws = await reopen(ws, base, session)
                # The turn's trailing writes (settlement, title) finish before the next turn is sent.
                entries = settle(stack, since, quiet=TURN_QUIET_SECONDS)
                outcomes[turn.outcome] += 1
                if turn.ok and turn.first_chunk is not None:
                    seconds = turn.first_chunk - turn.sent - args.first_token_delay
                    first = turn.wall(turn.first_chunk)
                    dynamodb = sum(e[3] for e in entries if e[1] < first) / 1000
                    added.append(seconds)
                    without_dynamodb.append(seconds - dynamodb)
                else:
                    errors += 1
            series[cache] = {
                **report.summary_ms(added),
                "without_dynamodb": report.summary_ms(without_dynamodb),
                "errors": errors,
                "outcomes": dict(outcomes),
                "turns_requested": args.turns,
                "stopped_by_time_budget": sum(outcomes.values()) < args.turns,
            }

        ws = await reset_and_warm(stack, helper, ws, base, session, engine)
        kinds: dict[str, list] = {"warm_new_conversation": [], "warm_follow_up": [], "cold_follow_up": []}
        for _ in range(args.request_samples):
            conversation = client.new_conversation_id(engine)
            for kind in kinds:
                if kind == "cold_follow_up":
                    helper.call("touch", engine=engine)
                ok, sample = await counted_turn(stack, ws, engine=engine, conversation_id=conversation)
                kinds[kind].append(sample)
                if not ok:
                    ws = await reopen(ws, base, session)
    finally:
        await client.close_many([ws])

    since = proxy_seq(stack)
    probe = await client.open_socket(ws_url(base), session)
    connect_entries = settle(stack, since)
    await client.close_many([probe])

    latency = {
        "definition": "client send of sendMessage -> first ai_chunk received, minus the fake model's first-token delay",
        "first_token_delay_s": args.first_token_delay,
        "cold_means": "the engine type's revision was bumped (prompt_touch) just before each turn, so the "
        "per-process prompt cache, keyed by revision, misses and the system prompt is rebuilt (files Query)",
        "first_turn_after_start_ms": None if first_ms is None else round(first_ms, 3),
        "series": series,
    }
    requests = {
        "kinds": {name: count_summary(samples) for name, samples in kinds.items()},
        "websocket_connect": {
            "total": len(connect_entries),
            "by_operation": dict(Counter(e[2] for e in connect_entries)),
        },
    }
    return latency, requests


def http_get(base: str, path: str, session: str) -> tuple[int, float]:
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=HTTP_TIMEOUT_SECONDS)
    clock = time.perf_counter()
    try:
        connection.request("GET", path, headers={"Cookie": f"sessionid={session}", "Accept": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - clock
    except (OSError, http.client.HTTPException):
        return 0, time.perf_counter() - clock  # counted as an error (status 0), not a crash of the run
    finally:
        connection.close()


def measure_list(args, stack: Stack, base: str, users: dict[int, str]) -> dict:
    """``GET /api/conversations`` (first page) for users holding different numbers of conversations."""
    path = "/api/conversations"
    for session in users.values():
        for _ in range(3):
            http_get(base, path, session)  # warm-up: connection pools, caches
    samples: dict[int, list] = {size: [] for size in users}
    deadline = time.monotonic() + args.list_seconds
    for _ in range(args.list_samples):
        if time.monotonic() > deadline:
            break  # reported: n below list_samples
        for size, session in users.items():  # interleaved, so machine noise hits both alike
            since = proxy_seq(stack)
            status, seconds = http_get(base, path, session)
            entries = stack.proxy_log(since)["entries"]
            samples[size].append((status, seconds, len(entries), sum(e[3] for e in entries)))
    series = {}
    for size, rows in samples.items():
        ok = [r for r in rows if r[0] == 200]
        series[f"{size}_conversations"] = {
            **report.summary_ms([r[1] for r in ok]),
            "errors": len(rows) - len(ok),
            "statuses": dict(Counter(r[0] for r in rows)),
            "dynamodb_requests_per_call": statistics.median([r[2] for r in ok]) if ok else None,
            "dynamodb_ms_p50": report.percentile([r[3] for r in ok], 50),
            "server_ms_without_dynamodb_p50": report.percentile([r[1] * 1000 - r[3] for r in ok], 50),
        }
    small, large = (series[f"{size}_conversations"] for size in sorted(users))
    return {
        "path": path,
        "sizes": sorted(users),
        "series": series,
        "ratio_p50": report.ratio(large["p50_ms"], small["p50_ms"]),
        "ratio_p50_without_dynamodb": report.ratio(
            large["server_ms_without_dynamodb_p50"], small["server_ms_without_dynamodb_p50"]
        ),
    }


async def measure_memory(pid: int, url: str, sessions: list[str | None]) -> dict:
    before = rss_kib(pid)
    sockets, failures = await client.open_many(url, sessions, PARALLEL_CONNECTS)
    await asyncio.sleep(2)
    after = rss_kib(pid)
    await client.close_many(sockets)
    await asyncio.sleep(1)
    per_socket = (after - before) / len(sockets) if sockets else None
    return {
        "sockets_open": len(sockets),
        "connect_failures": failures,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "per_1000_sockets_mib": None if per_socket is None else round(per_socket * 1000 / 1024, 2),
    }


def load_figures(result: client.LoadResult, tokens: int) -> dict:
    outcomes = Counter(t.outcome for t in result.turns)
    chunks = sum(len(t.chunk_times) for t in result.turns)
    gaps = [b - a for t in result.turns for a, b in zip(t.chunk_times, t.chunk_times[1:], strict=False)]
    first = [t.first_chunk - t.sent for t in result.turns if t.first_chunk is not None]
    chunk_times = [c for t in result.turns for c in t.chunk_times]
    streaming = max(chunk_times) - min(chunk_times) if len(chunk_times) > 1 else 0
    dropped = outcomes.get("dropped", 0)
    errors = result.connect_failures + sum(n for o, n in outcomes.items() if o not in ("chat_end", "dropped"))
    return {
        "streams": result.streams,
        "completed": outcomes.get("chat_end", 0),
        "errors": errors,
        "dropped": dropped,
        "outcomes": dict(outcomes),
        "connect_failures": result.connect_failures,
        "connect_seconds": round(result.connect_seconds, 3),
        "chunks": chunks,
        "chunks_expected": result.streams * tokens,
        "wall_seconds": round(result.wall_seconds, 3),
        "chunks_per_s": round(chunks / result.wall_seconds, 1) if result.wall_seconds else None,
        "streaming_chunks_per_s": round(chunks / streaming, 1) if streaming else None,
        "gap_p50_ms": report.summary_ms(gaps)["p50_ms"],
        "gap_p99_ms": report.summary_ms(gaps)["p99_ms"],
        "first_chunk_p50_ms": report.summary_ms(first)["p50_ms"],
        "first_chunk_p99_ms": report.summary_ms(first)["p99_ms"],
    }


async def measure_load(
    args, stack: Stack, helper: Helper, ours: str, relay: str, sessions: list[str], engine: str
) -> dict:
    levels = []
    for streams in args.levels:
        reset_dynamodb(helper)
        timeout = LEVEL_BASE_SECONDS + streams * LEVEL_SECONDS_PER_STREAM
        figures = {}
        # Ours first, then the relay, level by level: both see the same state of the (shared) machine.
        for name, url, level_sessions in (("ours", ours, sessions[:streams]), ("relay", relay, [None] * streams)):
            since = proxy_seq(stack)
            result = await client.load(
                ws_url(url),
                level_sessions,
                engine=engine,
                message=MESSAGE,
                parallel_connects=PARALLEL_CONNECTS,
                deadline_s=timeout,
            )
            figures[name] = load_figures(result, args.load_tokens)
            if name == "ours":
                # Turns the deadline cut off go on in the server: wait for it to be quiet before the next step.
                entries = settle(stack, since, quiet=LEVEL_QUIET_SECONDS, max_seconds=LEVEL_DRAIN_SECONDS)
                figures[name]["dynamodb_requests"] = len(entries)
                figures[name]["dynamodb_errors"] = sum(1 for e in entries if e[4] >= 500)
                figures[name]["dynamodb_ms_p50"] = report.percentile([e[3] for e in entries], 50)
                figures[name]["dynamodb_ms_p99"] = report.percentile([e[3] for e in entries], 99)
        levels.append(
            {
                "streams": streams,
                "ours": figures["ours"],
                "relay": figures["relay"],
                "ratio": {
                    "chunks_per_s": report.ratio(figures["ours"]["chunks_per_s"], figures["relay"]["chunks_per_s"]),
                    "streaming_chunks_per_s": report.ratio(
                        figures["ours"]["streaming_chunks_per_s"], figures["relay"]["streaming_chunks_per_s"]
                    ),
                    "gap_p99_ms": report.ratio(figures["ours"]["gap_p99_ms"], figures["relay"]["gap_p99_ms"]),
                    "first_chunk_p99_ms": report.ratio(
                        figures["ours"]["first_chunk_p99_ms"], figures["relay"]["first_chunk_p99_ms"]
                    ),
                },
            }
        )
        print(
            f"  load {streams:>5} streams: ours {figures['ours']['chunks_per_s']} chunks/s, relay "
            f"{figures['relay']['chunks_per_s']} chunks/s, errors {figures['ours']['errors']}",
            flush=True,
        )
    return {
        "answer_tokens": args.load_tokens,
        "token_delay_s": args.load_delay,
        "chunks_per_s_means": "chunks received by all clients / (last turn done - all sends)",
        "streaming_chunks_per_s_means": "chunks received / (last chunk - first chunk, over all streams)",
        "level_deadline": f"{LEVEL_BASE_SECONDS} s + {LEVEL_SECONDS_PER_STREAM} s per stream; later turns = timeouts",
        "gap_means": "time between two consecutive ai_chunk frames of one stream, pooled over all streams",
        "levels": levels,
    }


# -- the run --------------------------------------------------------------------------------------------------------


async def run(args, stack: Stack) -> dict:
    started = time.monotonic()
    out: dict = {
        "smoke": args.smoke,
        "started_at": datetime.now(UTC).isoformat(),
        "machine": report.machine(),
        "settings": {name: getattr(args, name) for name in FULL},
    }
    out["settings"]["open_files_limit"] = raise_open_files_limit()
    print(f"Benchmark ({'smoke' if args.smoke else 'full'}); work directory {stack.workdir}", flush=True)

    stack.start_dynamodb()
    helper = stack.start_helper()
    setup = helper.call("setup")
    engine = setup["engines"][0]["engine_type"]
    load_users = max([*args.levels, args.idle_sockets])
    latency_user = helper.call("users", prefix="latency", count=1)[0]
    list_users = {size: helper.call("users", prefix=f"list{size}-", count=1)[0] for size in args.list_sizes}
    sessions = [u["session"] for u in helper.call("users", prefix="load", count=load_users)]
    out["setup"] = {**setup, "engine_type": engine, "users": 1 + len(list_users) + load_users}
    print(f"  data ready ({time.monotonic() - started:.0f} s)", flush=True)

    latency_env = fake_model_env(args.latency_tokens, args.latency_delay, args.first_token_delay)
    server, base = stack.start_daphne("server-latency", "config.asgi:application", latency_env)
    out["settings"]["server_env_latency"] = latency_env
    latency, requests = await measure_latency(args, stack, helper, base, latency_user["session"], engine)
    out["time_to_first_token"] = latency
    print(f"  time to first token done ({time.monotonic() - started:.0f} s)", flush=True)

    load_env = fake_model_env(args.load_tokens, args.load_delay, args.first_token_delay)
    out["settings"]["server_env_load"] = load_env
    if load_env != latency_env:
        stack.stop(server)
        server, base = stack.start_daphne("server-load", "config.asgi:application", load_env)
    relay, relay_base = stack.start_daphne("relay", "benchmarks.relay:application", load_env)
    reset_dynamodb(helper)
    for url, warm_sessions in ((base, sessions[:2]), (relay_base, [None] * 2)):
        await client.load(
            ws_url(url), warm_sessions, engine=engine, message=MESSAGE, parallel_connects=2, deadline_s=60
        )
    out["memory_idle_sockets"] = {
        "ours": await measure_memory(server.pid, ws_url(base), sessions[: args.idle_sockets]),
        "relay": await measure_memory(relay.pid, ws_url(relay_base), [None] * args.idle_sockets),
    }
    print(f"  memory done ({time.monotonic() - started:.0f} s)", flush=True)
    out["streaming_under_load"] = await measure_load(args, stack, helper, base, relay_base, sessions, engine)
    stack.stop(relay)
    # Turns cut off by a level's deadline may still be running in it: the list is measured on a fresh process.
    stack.stop(server)
    server, base = stack.start_daphne("server-list", "config.asgi:application", load_env)

    # Last, on fresh tables: 10,000 conversation heads would slow every later moto transaction.
    reset_dynamodb(helper)
    for size, account in list_users.items():
        helper.call("seed_conversations", user_id=account["owner_id"], engine=engine, count=size)
    out["rest_list"] = measure_list(args, stack, base, {s: u["session"] for s, u in sorted(list_users.items())})
    print(f"  list latency done ({time.monotonic() - started:.0f} s)", flush=True)

    whole = stack.proxy_log(0)
    operations = Counter(e[2] for e in whole["entries"])
    requests["scans_in_whole_run"] = operations.get("Scan", 0)
    requests["all_operations_in_whole_run"] = dict(operations)
    out["dynamodb_requests_per_turn"] = requests
    out["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["duration_seconds"] = round(time.monotonic() - started, 1)
    out["targets"] = report.targets(out)
    return out


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    # SIGTERM must unwind like Ctrl-C, so the stack stops its children.
    signal.signal(signal.SIGTERM, _interrupt)
    failed = True
    try:
        with Stack(workdir) as stack:
            result = asyncio.run(run(args, stack))
        failed = False
    finally:
        if failed or args.keep_workdir:
            print(f"Logs of the run: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(report.table(result))
    print(f"\nReport written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
