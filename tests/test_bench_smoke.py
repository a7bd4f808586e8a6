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
    assert set(latency["targets"]) == {"floor", "floor-threadpool", "sqlite"}
    for summary in latency["targets"].values():
        assert summary["n"] == latency["requests_per_target"]
        assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert latency["targets"]["sqlite"]["p50_ratio"] > 0
    assert "## Decision latency" in completed.stdout
