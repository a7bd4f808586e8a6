"""Decisions per second under concurrent jobs, driven by wrk, against the floor's requests/s.

wrk runs one thread per connection and one job per connection (bench/decisions.lua), so each
job's epochs arrive in order, as from a real training job. wrk shares the machine's cores with
the server under test: the figures are for server and load generator together.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.stats import ratio
from bench.targets import DURABLE_FLOOR_OF, FLOOR, Target, decision_targets

CONCURRENT_JOBS = (1, 64, 256)
WORKER_COUNTS = (1, 2)
HALF_FLOOR_TARGET = 0.5
LUA_SCRIPT = Path(__file__).with_name("decisions.lua")
RESULT_MARKER = "WRK_JSON "


def wrk_decisions(url: str, job_prefix: str, jobs: int, seconds: int) -> dict[str, Any]:
    """Run wrk against `url` with `jobs` connections; its counts and successful requests/s."""
    completed = subprocess.run(
        [
            "wrk",
            "-t",
            str(jobs),
            "-c",
            str(jobs),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            job_prefix,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")
    counts: dict[str, Any] = json.loads(lines[0].removeprefix(RESULT_MARKER))
    successful = counts["requests"] - counts["non_2xx"]
    counts["per_second"] = round(successful / (counts["duration_us"] / 1e6), 1)
    return counts


def measure_target(target: Target, jobs: int, seconds: int) -> dict[str, Any]:
    """Create `jobs` fresh jobs on `target` and drive them for `seconds`."""
    prefix = f"throughput-{jobs}"
    with httpx.Client(base_url=target.server.url, timeout=30) as client:
        for index in range(jobs):
            target.prepare_job(client, f"{prefix}-{index}")
    return wrk_decisions(target.server.url, prefix, jobs, seconds)


def run(config: BenchConfig) -> dict[str, Any]:
    """Every (workers, concurrent jobs, target) combination; ratios over the floor and, for
    lrhub, over its database's durable floor."""
    if shutil.which("wrk") is None:
        return {"skipped": "wrk not found: apt-get install wrk (Debian) or brew install wrk"}
    seconds = config.scaled(quick=2, full=8)
    rows: list[dict[str, Any]] = []
    for workers in WORKER_COUNTS:
        with decision_targets(config, workers=workers) as targets:
            for jobs in CONCURRENT_JOBS:
                results = {t.name: measure_target(t, jobs, seconds) for t in targets}
                floor_rate = results[FLOOR]["per_second"]
                for name, counts in results.items():
                    durable = DURABLE_FLOOR_OF.get(name)
                    row = {
                        "target": name,
                        "workers": workers,
                        "jobs": jobs,
                        **counts,
                        "floor_ratio": ratio(counts["per_second"], floor_rate),
                    }
                    if durable in results:
                        durable_rate = results[durable]["per_second"]
                        row["durable_floor_ratio"] = ratio(counts["per_second"], durable_rate)
                    rows.append(row)
    one_worker_floor = {
        row["jobs"]: row["per_second"]
        for row in rows
        if row["target"] == FLOOR and row["workers"] == 1
    }
    for row in rows:
        row["one_worker_floor_ratio"] = ratio(row["per_second"], one_worker_floor[row["jobs"]])
    return {"seconds_per_run": seconds, "half_floor_target": HALF_FLOOR_TARGET, "runs": rows}
