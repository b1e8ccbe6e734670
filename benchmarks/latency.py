"""Time to the first token (warm and cold prompt cache) and DynamoDB requests per turn, counted against moto.

The server under test talks to moto through the counting proxy (benchmarks/proxy.py), so every request of a turn
is logged with its operation and timing; turns run one at a time, so the log lines up with the turn.
"""

import statistics
import time
from collections import Counter

from benchmarks import client, report
from benchmarks.client import MESSAGE, ws_url
from benchmarks.stack import Helper, Stack

SETTLE_QUIET_SECONDS = 0.5
SETTLE_MAX_SECONDS = 30
TURN_QUIET_SECONDS = 0.1


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
