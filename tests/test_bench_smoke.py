"""The benchmark suite runs end to end (`python -m bench --quick`); speed is never asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


def quick_bench(only: str, results: Path, timeout: float) -> tuple[str, dict[str, Any]]:
    """Run `python -m bench --quick --only ONLY` on SQLite; its report and its results file."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", only, "--no-postgres",
         "--results-dir", str(results)],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    [results_file] = results.glob("*-quick.json")
    report: dict[str, Any] = json.loads(results_file.read_text())
    return completed.stdout, report


@pytest.mark.slow
def test_quick_latency_benchmark_reports_every_target_against_the_floor(tmp_path: Path) -> None:
    stdout, report = quick_bench("latency", tmp_path, timeout=120)

    assert report["quick"] is True
    assert {"date_utc", "cores", "memory_total", "commit"} <= report["machine"].keys()
    latency = report["benchmarks"]["latency"]
    floors = {"floor", "floor-threadpool", "floor-durable-sqlite"}
    assert set(latency["targets"]) == floors | {"sqlite"}
    for summary in latency["targets"].values():
        assert summary["n"] == latency["requests_per_target"]
        assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    assert latency["targets"]["sqlite"]["p50_ratio"] > 0
    assert "## Decision latency" in stdout


@pytest.mark.slow
def test_quick_isolation_benchmark_measures_a_job_beside_the_costliest_request(
    tmp_path: Path,
) -> None:
    stdout, report = quick_bench("isolation", tmp_path, timeout=300)

    isolation = report["benchmarks"]["isolation"]
    assert isolation["heavy_steps_per_epoch"] > 10_000
    sqlite = isolation["databases"]["sqlite"]
    assert sqlite["heavy_requests"] >= 1  # the light job really ran beside a heavy request
    for phase in ("light_alone", "light_during_heavy"):
        assert sqlite[phase]["n"] == 100
        assert 0 < sqlite[phase]["p50_ms"] <= sqlite[phase]["p99_ms"]
    assert "## One job's costliest request, another job's decisions" in stdout


@pytest.mark.slow
@pytest.mark.keras
def test_quick_training_benchmark_fits_against_the_durable_floor_fit(tmp_path: Path) -> None:
    stdout, report = quick_bench("training", tmp_path, timeout=600)

    training = report["benchmarks"]["training"]
    for mode in ("epoch_mode", "step_mode"):
        figures = training[mode]
        # One round after the warm-up: a local, a remote and a durable floor fit.
        assert [len(figures[f"{side}_seconds"]) for side in ("local", "remote", "floor")] == [1] * 3
        assert figures["median_floor_ratio"] > 0 and figures["median_ratio_over_floor"] > 0
        # The floor fit trains with the rates lrhub gives, to the last step.
        rates = figures["final_learning_rates"]
        assert rates["floor"] == rates["remote"]
    epoch_rates = training["epoch_mode"]["final_learning_rates"]
    assert epoch_rates["local"] == epoch_rates["remote"]
    assert "durable floor fit" in stdout
