"""The benchmark runner keeps working: its smoke mode starts the whole stack and writes a complete report.

Only the shape of the report is checked (every section present, with numbers); performance figures are the
benchmark's business (docs/performance.md), never asserted here.
"""

import json
import subprocess
import sys
from numbers import Number
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_TIMEOUT_SECONDS = 420


def _number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    output = tmp_path_factory.mktemp("bench") / "report.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(output.read_text()), completed.stdout


@pytest.mark.server
def test_smoke_report_describes_the_machine_and_settings(smoke_report):
    report, _ = smoke_report
    assert report["smoke"] is True
    machine = report["machine"]
    assert _number(machine["cores"]) and _number(machine["ram_gib"])
    assert machine["python"].startswith("3.")
    assert machine["packages"]["daphne"] and machine["packages"]["websockets"]
    assert report["settings"]["server_env_load"]["FAKE_MODEL_ANSWER_TOKENS"] == report["settings"]["load_tokens"]
    long_env = report["streaming_under_load"]["shapes"]["long"]["server_env"]
    assert long_env["FAKE_MODEL_ANSWER_TOKENS"] == report["settings"]["long_tokens"]
    for key in ("load_average_at_start", "load_average_before_load", "load_average_after_load"):
        assert len(machine[key]) == 3 and all(_number(x) for x in machine[key])


@pytest.mark.server
def test_smoke_report_has_time_to_first_token_for_warm_and_cold_cache(smoke_report):
    report, _ = smoke_report
    series = report["time_to_first_token"]["series"]
    assert set(series) == {"warm", "cold"}
    for row in series.values():
        assert row["n"] >= 1
        assert all(_number(row[key]) for key in ("p50_ms", "p95_ms", "p99_ms"))
        assert all(_number(row["without_dynamodb"][key]) for key in ("p50_ms", "p95_ms", "p99_ms"))


LEVEL_FIGURES = (
    "tokens_per_s",
    "chunks_per_s",
    "first_chunk_p50_ms",
    "first_chunk_p99_ms",
    "gap_p99_ms",
    "errors",
    "dropped",
    "cpu_seconds",
    "cpu_s_per_1000_chunks",
    "peak_rss_mib",
)


@pytest.mark.server
def test_smoke_report_has_both_answer_shapes_on_every_level_side_by_side_with_the_relay(smoke_report):
    report, _ = smoke_report
    load = report["streaming_under_load"]
    assert _number(load["standin"]["latency_ms"]) and "in-memory" in load["standin"]["what"]
    shapes = load["shapes"]
    assert set(shapes) == {"short", "long"}
    assert [level["streams"] for level in shapes["short"]["levels"]] == report["settings"]["levels"]
    assert [level["streams"] for level in shapes["long"]["levels"]] == report["settings"]["long_levels"]
    assert shapes["long"]["answer_tokens"] == report["settings"]["long_tokens"]
    for shape in shapes.values():
        for level in shape["levels"]:
            for side in ("ours", "relay"):
                figures = level[side]
                assert figures["chunks"] > 0 and figures["tokens"] > 0
                assert all(_number(figures[name]) for name in LEVEL_FIGURES), (side, figures)
            assert _number(level["ratio"]["tokens_per_s"]) and _number(level["ratio"]["gap_p99_ms"])


@pytest.mark.server
def test_smoke_report_counts_dynamodb_requests_per_turn(smoke_report):
    report, _ = smoke_report
    requests = report["dynamodb_requests_per_turn"]
    assert set(requests["kinds"]) == {"warm_new_conversation", "warm_follow_up", "cold_follow_up"}
    for kind in requests["kinds"].values():
        assert kind["total"]["max"] >= kind["before_first_token"]["max"] >= 1  # a turn always reads something
        assert sum(kind["by_operation_max"].values()) >= kind["total"]["max"]
    assert _number(requests["scans_in_whole_run"])
    assert sum(requests["all_operations_in_whole_run"].values()) > 0
    cpu = report["cpu_per_turn"]
    assert cpu["turns"] >= 1
    assert all(cpu[f"{stage}_ms"] > 0 for stage in ("begin", "finish", "title"))
    assert cpu["total_ms"] >= cpu["begin_ms"] + cpu["finish_ms"]


@pytest.mark.server
def test_smoke_report_has_list_latency_memory_and_targets(smoke_report):
    report, stdout = smoke_report
    rest = report["rest_list"]
    assert len(rest["series"]) == 2
    for row in rest["series"].values():
        assert row["n"] >= 1 and _number(row["p50_ms"])
        assert row["dynamodb_requests_per_call"] >= 1
    assert _number(rest["ratio_p50"])
    for side in ("ours", "relay"):
        memory = report["memory_idle_sockets"][side]
        assert memory["sockets_open"] >= 1 and _number(memory["per_1000_sockets_mib"])
    statuses = {target["status"] for target in report["targets"]}
    assert len(report["targets"]) == 17 and statuses <= {"met", "missed", "not measured", "reported"}
    assert "Targets" in stdout and "Report written to" in stdout
