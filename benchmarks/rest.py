"""REST list latency by the number of conversations a user holds, and memory per idle authenticated socket."""

import asyncio
import http.client
import statistics
import time
from collections import Counter
from urllib.parse import urlsplit

from benchmarks import client, report
from benchmarks.client import PARALLEL_CONNECTS
from benchmarks.latency import proxy_seq
from benchmarks.stack import Stack, rss_kib

HTTP_TIMEOUT_SECONDS = 30


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
