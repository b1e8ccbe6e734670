"""The benchmark runner: ``python -m benchmarks.run [--smoke] [--output report.json]`` (docs/performance.md).

It starts moto server behind a counting proxy (time to first token, DynamoDB requests per turn, REST lists:
benchmarks/latency.py, benchmarks/rest.py), then for the load levels a DynamoDB stand-in with a per-request
latency, the product under daphne with production settings and the fake model, and the async relay on the same
stack (benchmarks/load.py); drives real WebSocket and HTTP clients on 127.0.0.1; prints a table and writes every
figure to a JSON report. Every loop is bounded in count and time, and every child process is stopped on exit,
Ctrl-C or error.
"""

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import client, report
from benchmarks.client import MESSAGE, ws_url
from benchmarks.latency import measure_latency, reset_dynamodb
from benchmarks.load import measure_load
from benchmarks.rest import measure_list, measure_memory
from benchmarks.stack import Stack, fake_model_env

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
    "long_tokens": 400,
    "long_levels": [1, 10, 100, 500, 1000],
    "standin_latency_ms": 5.0,
    "first_token_delay": 0.0,
    "series_seconds": 90.0,
    "list_seconds": 60.0,
    "cpu_turns": 50,
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
    # Enough for several chunks per answer: with no pause the deltas wait and go out coalesced as one.
    "load_delay": 0.02,
    "long_tokens": 12,
    "long_levels": [2],
    "series_seconds": 30.0,
    "list_seconds": 15.0,
    "cpu_turns": 3,
}


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: checks the runner works (seconds)")
    parser.add_argument("--output", default="benchmarks/results/latest.json", help="where the JSON report goes")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the logs and databases of the run")
    for name, value in FULL.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, list):
            parser.add_argument(flag, type=_int_list, default=None, help=f"e.g. {value}; empty for none")
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


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


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
    load_users = max([*args.levels, *args.long_levels, args.idle_sockets])
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
    out["cpu_per_turn"] = helper.call(
        "turn_cpu", engine=engine, count=args.cpu_turns, message=MESSAGE, answer_tokens=args.load_tokens
    )

    # Memory per idle authenticated socket: every socket passes the session middleware and the consumer's connect.
    relay, relay_base = stack.start_daphne("relay-memory", "benchmarks.relay:application", latency_env)
    for url, warm_sessions in ((base, sessions[:2]), (relay_base, [None] * 2)):
        await client.load(
            ws_url(url), warm_sessions, engine=engine, message=MESSAGE, parallel_connects=2, deadline_s=60
        )
    out["memory_idle_sockets"] = {
        "ours": await measure_memory(server.pid, ws_url(base), sessions[: args.idle_sockets]),
        "relay": await measure_memory(relay.pid, ws_url(relay_base), [None] * args.idle_sockets),
    }
    stack.stop(relay)
    stack.stop(server)
    print(f"  memory done ({time.monotonic() - started:.0f} s)", flush=True)

    out["machine"]["load_average_before_load"] = [round(x, 2) for x in os.getloadavg()]
    out["streaming_under_load"] = await measure_load(args, stack, sessions)
    out["machine"]["load_average_after_load"] = [round(x, 2) for x in os.getloadavg()]
    load_env = fake_model_env(args.load_tokens, args.load_delay, args.first_token_delay)
    out["settings"]["server_env_load"] = load_env
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
