"""Figures of a run: percentiles, the machine it ran on, the targets, and the table printed on stdout."""

import math
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("django", "channels", "daphne", "twisted", "autobahn", "websockets", "pynamodb", "botocore", "moto")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation): a value that was really observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": _round(percentile(ms, 50)),
        "p95_ms": _round(percentile(ms, 95)),
        "p99_ms": _round(percentile(ms, 99)),
        "max_ms": _round(max(ms) if ms else None),
    }


def ratio(ours: float | None, baseline: float | None) -> float | None:
    if ours is None or not baseline:
        return None
    return round(ours / baseline, 3)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict:
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _status(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "missed")


def targets(report: dict) -> list[dict]:
    """The issue's targets, each with the measured value and met / missed / not measured."""
    out = []
    requests = report.get("dynamodb_requests_per_turn", {})
    warm = [kind for name, kind in requests.get("kinds", {}).items() if name.startswith("warm")]
    # A kind whose every sample failed has no counts: the target is then not measured rather than met.
    counted = all(k["total"]["max"] is not None for k in warm)
    before = max((k["before_first_token"]["max"] for k in warm), default=None) if counted and warm else None
    total = max((k["total"]["max"] for k in warm), default=None) if counted and warm else None
    out.append(
        {
            "target": "warm cache: DynamoDB requests before the first token <= 2",
            "value": before,
            "status": _status(None if before is None else before <= 2),
        }
    )
    out.append(
        {
            "target": "warm cache: DynamoDB requests per turn <= 6",
            "value": total,
            "status": _status(None if total is None else total <= 6),
        }
    )
    scans = requests.get("scans_in_whole_run")
    out.append(
        {
            "target": "no Scan anywhere in the run",
            "value": scans,
            "status": _status(None if scans is None else scans == 0),
        }
    )

    out.extend(load_targets(report))
    list_ratio = report.get("rest_list", {}).get("ratio_p50")
    out.append(
        {
            "target": "list latency ratio (largest / smallest user, p50; full run: 10,000 / 100) <= 1.3",
            "value": list_ratio,
            "status": _status(None if list_ratio is None else list_ratio <= 1.3),
        }
    )
    return out


def _level(shape: dict, streams: int) -> dict | None:
    return next((lvl for lvl in shape.get("levels", []) if lvl["streams"] == streams), None)


def _at_most(value: float | None, bound: float) -> str:
    return _status(None if value is None else value <= bound)


def _at_least(value: float | None, bound: float) -> str:
    return _status(None if value is None else value >= bound)


def load_targets(report: dict) -> list[dict]:
    """The load targets, per answer shape: 1,000 streams against the relay, 100 streams, memory, CPU."""
    load = report.get("streaming_under_load", {})
    latency_ms = load.get("standin", {}).get("latency_ms")
    kinds = report.get("dynamodb_requests_per_turn", {}).get("kinds", {})
    before = kinds.get("warm_new_conversation", {}).get("before_first_token", {}).get("max")
    out = []
    for label, shape in load.get("shapes", {}).items():
        name = f"{label} answers ({shape['answer_tokens']} tokens)"
        top = _level(shape, 1000)
        hundred = _level(shape, 100)
        failures = None if top is None else top["ours"]["errors"] + top["ours"]["dropped"]
        tokens_ratio = None if top is None else top["ratio"]["tokens_per_s"]
        gap_ratio = None if top is None else top["ratio"]["gap_p99_ms"]
        ttft = None if top is None else top["ours"]["first_chunk_p99_ms"]
        ttft_bound = None if before is None or latency_ms is None else 250 + latency_ms * before
        hundred_ratio = None if hundred is None else hundred["ratio"]["tokens_per_s"]
        cpu = None if top is None else top["ours"]["cpu_s_per_1000_chunks"]
        out += [
            {
                "target": f"{name}, 1,000 streams: 0 errors and 0 dropped sockets",
                "value": failures,
                "status": _status(None if failures is None else failures == 0),
            },
            {
                "target": f"{name}, 1,000 streams: delivered tokens/s >= 0.8 x the relay's",
                "value": tokens_ratio,
                "status": _at_least(tokens_ratio, 0.8),
            },
            {
                "target": f"{name}, 1,000 streams: p99 chunk gap <= 2 x the relay's",
                "value": gap_ratio,
                "status": _at_most(gap_ratio, 2.0),
            },
            {
                "target": f"{name}, 1,000 streams: p99 time to first chunk <= 250 ms + {latency_ms} ms x "
                f"{before} requests before the first token = {ttft_bound} ms",
                "value": ttft,
                "status": _status(None if ttft is None or ttft_bound is None else ttft <= ttft_bound),
            },
            {
                "target": f"{name}, 100 streams: delivered tokens/s >= 0.9 x the relay's",
                "value": hundred_ratio,
                "status": _at_least(hundred_ratio, 0.9),
            },
            {
                "target": f"{name}, 1,000 streams: CPU seconds per 1,000 chunks (reported, no target)",
                "value": cpu,
                "status": "reported" if cpu is not None else "not measured",
            },
        ]
    memory = report.get("memory_idle_sockets", {}).get("ours", {}).get("per_1000_sockets_mib")
    if report.get("smoke") is False or memory is not None:
        out.append(
            {
                "target": "memory per 1,000 idle authenticated sockets <= 40 MiB",
                "value": memory,
                "status": _at_most(memory, 40.0),
            }
        )
    return out


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}" if abs(value) >= 10 else f"{value:.3g}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def table(report: dict) -> str:
    lines = []
    m = report["machine"]
    lines.append(f"Machine: {m['cores']} cores, {m['ram_gib']} GiB, {m['cpu_model']}, Python {m['python']}")
    lines.append(f"Load average at start / end: {m['load_average_at_start']} / {m.get('load_average_at_end')}")
    lines.append("")
    lines.append("1. Time added before the first token (send -> first ai_chunk, minus the fake first-token delay)")
    lines.append(f"   {'cache':<28}{'n':>6}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}{'errors':>8}")
    for name, row in report["time_to_first_token"]["series"].items():
        lines.append(
            f"   {name:<28}{row['n']:>6}{_fmt(row['p50_ms'], 'ms'):>10}{_fmt(row['p95_ms'], 'ms'):>10}"
            f"{_fmt(row['p99_ms'], 'ms'):>10}{_fmt(row['max_ms'], 'ms'):>10}{row['errors']:>8}"
        )
    for name, row in report["time_to_first_token"]["series"].items():
        rest = row["without_dynamodb"]
        lines.append(
            f"   {name + ' minus DynamoDB time':<28}{rest['n']:>6}{_fmt(rest['p50_ms'], 'ms'):>10}"
            f"{_fmt(rest['p95_ms'], 'ms'):>10}{_fmt(rest['p99_ms'], 'ms'):>10}{_fmt(rest['max_ms'], 'ms'):>10}"
        )
    for name, row in report["time_to_first_token"]["series"].items():
        if row["stopped_by_time_budget"]:
            lines.append(
                f"   {name}: stopped by the time budget after {row['n'] + row['errors']}"
                f" of {row['turns_requested']} turns"
            )
    first = report["time_to_first_token"].get("first_turn_after_start_ms")
    lines.append(f"   first turn after the server started: {_fmt(first, 'ms')}")
    lines.append("")
    load = report["streaming_under_load"]
    standin = load["standin"]
    lines.append(
        f"2. Streaming under load: ours | the async relay, one daphne process each, same run; DynamoDB stand-in:"
        f" benchmarks/standin.py (in-memory, not moto) + {standin['latency_ms']} ms per request"
    )
    lines.append(
        f"   {'streams':>7} {'tokens/s':>17} {'ratio':>5} {'chunks/s':>17} {'ttft p50':>15} {'ttft p99':>15}"
        f" {'gap p99':>15} {'err+drop':>9} {'CPU s':>11} {'CPU s/1k ch':>11} {'peak RSS MiB':>13}"
    )
    for label, shape in load["shapes"].items():
        lines.append(f"   {label}: {shape['answer_tokens']} tokens at {shape['token_delay_s'] * 1000:.0f} ms")
        for lvl in shape["levels"]:
            o, r, q = lvl["ours"], lvl["relay"], lvl["ratio"]

            def pair(key: str, unit: str = "", o=o, r=r) -> str:
                return f"{_fmt(o[key], unit)}|{_fmt(r[key], unit)}"

            lines.append(
                f"   {lvl['streams']:>7} {pair('tokens_per_s'):>17} {_fmt(q['tokens_per_s']):>5}"
                f" {pair('chunks_per_s'):>17} {pair('first_chunk_p50_ms'):>15} {pair('first_chunk_p99_ms'):>15}"
                f" {pair('gap_p99_ms'):>15} {o['errors'] + o['dropped']:>4}|{r['errors'] + r['dropped']:<4}"
                f" {pair('cpu_seconds'):>11} {pair('cpu_s_per_1000_chunks'):>11} {pair('peak_rss_mib'):>13}"
            )
    lines.append("")
    lines.append("3. DynamoDB requests per turn (from the counting proxy; max over the samples)")
    requests = report["dynamodb_requests_per_turn"]
    for name, kind in requests["kinds"].items():
        ops = ", ".join(f"{op} {n}" for op, n in sorted(kind["by_operation_max"].items()))
        lines.append(
            f"   {name:<24} before first token {_fmt(kind['before_first_token']['max']):>2},"
            f" total {_fmt(kind['total']['max']):>2}, failed {kind['failed_samples']}/{kind['samples']}  ({ops})"
        )
    lines.append(f"   Scan requests in the whole run: {requests['scans_in_whole_run']}")
    cpu = report["cpu_per_turn"]
    lines.append(
        f"   CPU per new-conversation turn, one at a time (the data helper, against moto): begin"
        f" {_fmt(cpu['begin_ms'], ' ms')}, finish {_fmt(cpu['finish_ms'], ' ms')},"
        f" title {_fmt(cpu['title_ms'], ' ms')}, total {_fmt(cpu['total_ms'], ' ms')} (n={cpu['turns']})"
    )
    lines.append("")
    rest = report["rest_list"]
    lines.append("4. REST GET /api/conversations and memory")
    for name, row in rest["series"].items():
        lines.append(
            f"   {name:<28} p50 {_fmt(row['p50_ms'], 'ms')}, p95 {_fmt(row['p95_ms'], 'ms')}"
            f" (n={row['n']}, errors {row['errors']}, DynamoDB {_fmt(row['dynamodb_requests_per_call'])}/call,"
            f" DynamoDB time p50 {_fmt(row['dynamodb_ms_p50'], 'ms')})"
        )
    small, large = rest["sizes"]
    lines.append(
        f"   ratio {large:,} / {small:,} conversations (p50): {_fmt(rest['ratio_p50'])},"
        f" without the DynamoDB time: {_fmt(rest['ratio_p50_without_dynamodb'])}"
    )
    for name, row in report["memory_idle_sockets"].items():
        lines.append(
            f"   {name}: {_fmt(row['per_1000_sockets_mib'], ' MiB')} per 1,000 idle sockets"
            f" ({row['sockets_open']} open, RSS {_fmt(row['rss_before_mib'], ' MiB')}"
            f" -> {_fmt(row['rss_after_mib'], ' MiB')})"
        )
    lines.append("")
    lines.append("Targets")
    for t in report["targets"]:
        lines.append(f"   [{t['status']:^12}] {t['target']}: {_fmt(t['value'])}")
    return "\n".join(lines)
