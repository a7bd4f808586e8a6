"""Decision latency, client-observed: sequential requests over one keep-alive connection.

Each request decides a new epoch (a durable write on lrhub). Jobs are 100-epoch runs; the
targets take turns request by request, so background load on a shared machine hits all alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.servers import floor_server
from bench.stats import latency_summary, ratio
from bench.targets import (
    DURABLE_FLOOR_OF,
    FLOOR,
    FLOOR_DURABLE_SQLITE,
    Target,
    decision_targets,
    sample_decision,
)
from bench.workload import EPOCHS_PER_JOB, decision_body, decision_path

# Per database: the baseline its p50 is held against (its durable floor), and the most it may be.
P50_TARGETS = {name: (floor, 1.3) for name, floor in DURABLE_FLOOR_OF.items()}


def timed_decision(client: httpx.Client, target: Target, job_id: str, epoch: int) -> float:
    """Decide `epoch` of `job_id`; the request's duration in seconds."""
    body = decision_body(epoch)
    started = time.perf_counter()
    response = client.post(decision_path(job_id, epoch), json=body)
    duration = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{target.name}: {response.status_code} {response.text}")
    return duration


def timed_job_run(
    client: httpx.Client, target: Target, job_id: str, pace: float = 0.0
) -> list[float]:
    """Decide epochs 0..99 of a fresh job; the duration of each request in seconds. With
    `pace`, the client idles that many seconds before each request, as a training loop does."""
    target.prepare_job(client, job_id)
    durations = []
    for epoch in range(EPOCHS_PER_JOB):
        if pace:
            time.sleep(pace)
        durations.append(timed_decision(client, target, job_id, epoch))
    return durations


@contextmanager
def durable_sqlite_floor(workdir: Path, lrhub_url: str) -> Iterator[Target]:
    """The SQLite durable floor (FastAPI, the thread pool and one committed INSERT per request),
    answering bodies the size of a decision of lrhub at `lrhub_url`; stopped after."""
    database = f"sqlite:///{workdir / 'floor-durable.db'}"
    template = sample_decision(lrhub_url)
    with floor_server(workdir / "floor", template, 1, True, database) as floor:
        yield Target(FLOOR_DURABLE_SQLITE, floor)


def floor_round_trip(http: httpx.Client, floor: Target, pace: float = 0.0) -> float:
    """The median round trip (seconds) of `floor` over `http`, after a warm-up job. With `pace`,
    the measured requests come that many seconds apart: a machine that idled between two
    requests wakes its threads again for each (on a VM, twice the back-to-back round trip)."""
    timed_job_run(http, floor, "warm-up")
    return statistics.median(timed_job_run(http, floor, "measured", pace))


def durable_floor_round_trip(workdir: Path, lrhub_url: str, pace: float = 0.0) -> float:
    """`floor_round_trip` of a SQLite durable floor started for the measurement."""
    with (
        durable_sqlite_floor(workdir, lrhub_url) as floor,
        httpx.Client(base_url=floor.server.url, timeout=30) as http,
    ):
        return floor_round_trip(http, floor, pace)


def interleaved_latencies(targets: list[Target], jobs: int) -> dict[str, list[float]]:
    """One warm-up job per target, then `jobs` measured jobs each, decided epoch by epoch with
    the targets in turn: a burst of load from elsewhere on a shared machine lands on the
    requests of every target alike (in blocks of a whole job each, it landed on one target's)."""
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    clients = {t.name: httpx.Client(base_url=t.server.url, timeout=30) for t in targets}
    try:
        for target in targets:
            timed_job_run(clients[target.name], target, "latency-warmup")
        for job in range(jobs):
            job_id = f"latency-{job}"
            for target in targets:
                target.prepare_job(clients[target.name], job_id)
            for epoch in range(EPOCHS_PER_JOB):
                for target in targets:
                    duration = timed_decision(clients[target.name], target, job_id, epoch)
                    samples[target.name].append(duration)
    finally:
        for client in clients.values():
            client.close()
    return samples


def summarize_against_floor(samples: dict[str, list[float]]) -> dict[str, Any]:
    """Per target percentiles, p50/p99 as ratios over the floor's, and each database's p50
    over its own baseline (that database's durable floor) against its target."""
    summaries: dict[str, dict[str, Any]] = {
        name: dict(latency_summary(values)) for name, values in samples.items()
    }
    floor = summaries[FLOOR]
    for name, summary in summaries.items():
        if name != FLOOR:
            summary["p50_ratio"] = ratio(summary["p50_ms"], floor["p50_ms"])
            summary["p99_ratio"] = ratio(summary["p99_ms"], floor["p99_ms"])
        if name in P50_TARGETS and P50_TARGETS[name][0] in summaries:
            baseline, goal = P50_TARGETS[name]
            measured = ratio(summary["p50_ms"], summaries[baseline]["p50_ms"])
            summary["p50_target"] = {"baseline": baseline, "ratio": measured, "goal": goal}
            summary["p50_target_met"] = measured <= goal
    return summaries


def run(config: BenchConfig) -> dict[str, Any]:
    """Decision latency of lrhub (SQLite, PostgreSQL) against the floor, one worker each."""
    jobs = config.scaled(quick=1, full=20)
    with decision_targets(config) as targets:
        samples = interleaved_latencies(targets, jobs)
    return {
        "requests_per_target": jobs * EPOCHS_PER_JOB,
        "targets": summarize_against_floor(samples),
    }
