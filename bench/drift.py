"""Drift over a job's life: the latency of epoch 10,000 of a job against its epoch 10.

One job decides epochs 0 to 10,109 in order over one keep-alive connection, on a fresh server
per database (the decisions table grows with it to 10,100 rows). Every block of 100 of its
epochs is followed by 100 requests to the database's durable floor, so each window of the job's
life is also a ratio over a floor measured within seconds of it. The figures: p50 of epochs
10-109 ("epoch 10") and of epochs 10,010-10,109 ("epoch 10,000"), each over its floor blocks'
p50, and the second over the first; then a new job's epochs 10-109 on the grown table (what
another job pays for one that ran long). `--quick`: epoch 1,000 instead of 10,000.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.latency import timed_job_run
from bench.postgres import scratch_postgres
from bench.servers import floor_server, lrhub_server
from bench.stats import latency_summary, ratio
from bench.targets import (
    DURABLE_FLOOR_OF,
    POSTGRESQL,
    SQLITE,
    Target,
    sample_decision,
)
from bench.workload import create_job, decision_body, decision_path

BLOCK = 100
EARLY = 10  # the first window starts here: epochs 0-9 warm the job up
FLAT_TARGET = 1.1


@contextmanager
def _servers(config: BenchConfig, database: str) -> Iterator[tuple[Target, Target]]:
    """lrhub on `database` (a fresh file or scratch database) and its durable floor."""
    workdir = config.workdir / f"drift-{database}"
    with ExitStack() as stack:
        lrhub_url = floor_url = None
        if database == POSTGRESQL:
            assert config.postgres_url is not None
            lrhub_url = stack.enter_context(scratch_postgres(config.postgres_url))
            floor_url = stack.enter_context(scratch_postgres(config.postgres_url))
        else:
            floor_url = f"sqlite:///{workdir / 'floor-durable.db'}"
        lrhub = stack.enter_context(lrhub_server(workdir / "lrhub", lrhub_url))
        template = sample_decision(lrhub.url)
        floor = stack.enter_context(
            floor_server(workdir / "floor", template, threadpool=True, database_url=floor_url)
        )
        yield Target(database, lrhub), Target(DURABLE_FLOOR_OF[database], floor)


def _floor_block(client: httpx.Client, start: int) -> list[float]:
    """`BLOCK` requests to the floor (it needs no job)."""
    return timed_epochs(client, "drift-floor", range(start, start + BLOCK))


def timed_epochs(client: httpx.Client, job_id: str, epochs: range) -> list[float]:
    """Decide `epochs` of `job_id` in order; each request's seconds."""
    durations = []
    for epoch in epochs:
        started = time.perf_counter()
        response = client.post(decision_path(job_id, epoch), json=decision_body(epoch))
        durations.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{job_id} epoch {epoch}: {response.status_code} {response.text}")
    return durations


def _window(lrhub: list[float], floor: list[float]) -> dict[str, Any]:
    decision, baseline = latency_summary(lrhub), latency_summary(floor)
    return {
        "decision": decision,
        "floor": baseline,
        "p50_over_floor": ratio(decision["p50_ms"], baseline["p50_ms"]),
    }


def measure(lrhub: Target, floor: Target, late: int) -> dict[str, Any]:
    """One job's life up to epoch `late` + 109 in blocks, in turns with the floor."""
    late_start = late + EARLY
    epochs = late_start + BLOCK
    samples: dict[str, list[float]] = {"early": [], "late": [], "new_job": []}
    floors: dict[str, list[float]] = {"early": [], "late": [], "new_job": []}
    with (
        httpx.Client(base_url=lrhub.server.url, timeout=30) as client,
        httpx.Client(base_url=floor.server.url, timeout=30) as floor_client,
    ):
        timed_job_run(floor_client, floor, "drift-warmup")
        create_job(client, "drift")
        # Epoch 0 to EARLY - 1: the job's first epochs (no window), then blocks from EARLY.
        timed_epochs(client, "drift", range(EARLY))
        for start in range(EARLY, epochs, BLOCK):
            block = timed_epochs(client, "drift", range(start, min(start + BLOCK, epochs)))
            floor_block = _floor_block(floor_client, start)
            window = "early" if start == EARLY else "late" if start >= late_start else None
            if window is not None:
                samples[window].extend(block)
                floors[window].extend(floor_block)
        create_job(client, "drift-new")
        timed_epochs(client, "drift-new", range(EARLY))
        samples["new_job"] = timed_epochs(client, "drift-new", range(EARLY, EARLY + BLOCK))
        floors["new_job"] = _floor_block(floor_client, 0)
    windows = {name: _window(samples[name], floors[name]) for name in samples}
    early = windows["early"]["p50_over_floor"]
    return {
        "late_epoch": late,
        "windows": windows,
        "late_over_early": ratio(windows["late"]["p50_over_floor"], early),
        "new_job_over_early": ratio(windows["new_job"]["p50_over_floor"], early),
        "late_over_early_raw": ratio(
            windows["late"]["decision"]["p50_ms"], windows["early"]["decision"]["p50_ms"]
        ),
    }


def run(config: BenchConfig) -> dict[str, Any]:
    """Epoch 10 against epoch 10,000 of one job, on SQLite and (if configured) PostgreSQL."""
    late = config.scaled(quick=1_000, full=10_000)
    databases = [SQLITE] + ([POSTGRESQL] if config.postgres_url is not None else [])
    results = {}
    for database in databases:
        with _servers(config, database) as (lrhub, floor):
            results[database] = measure(lrhub, floor, late)
    return {"target": FLAT_TARGET, "block": BLOCK, "databases": results}
