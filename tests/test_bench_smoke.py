"""The benchmark suite runs end to end (`python -m bench --quick`); speed is never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_latency_benchmark_reports_every_target_against_the_floor(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "latency", "--no-postgres",
         "--results-dir", str(tmp_path)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr

    [results_file] = tmp_path.glob("*-quick.json")
    report = json.loads(results_file.read_text())
    assert report["quick"] is True
    assert {"date_utc", "cores", "memory_total", "commit"} <= report["machine"].keys()
    latency = report["benchmarks"]["latency"]
    floors = {"floor", "floor-threadpool", "floor-durable-sqlite"}
    assert set(latency["targets"]) == floors | {"sqlite"}
    for summary in latency["targets"].values():
        assert summary["n"] == latency["requests_per_target"]
        assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert latency["targets"]["sqlite"]["p50_ratio"] > 0
    assert "## Decision latency" in completed.stdout


@pytest.mark.slow
def test_quick_isolation_benchmark_measures_a_job_beside_the_costliest_request(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "isolation", "--no-postgres",
         "--results-dir", str(tmp_path)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr

    [results_file] = tmp_path.glob("*-quick.json")
    isolation = json.loads(results_file.read_text())["benchmarks"]["isolation"]
    assert isolation["heavy_steps_per_epoch"] > 10_000
    sqlite = isolation["databases"]["sqlite"]
    assert sqlite["heavy_requests"] >= 1  # the light job really ran beside a heavy request
    for phase in ("light_alone", "light_during_heavy"):
        assert sqlite[phase]["n"] == 100
        assert 0 < sqlite[phase]["p50_ms"] <= sqlite[phase]["p99_ms"]
    assert "## One job's costliest request, another job's decisions" in completed.stdout
