"""Drift over a job's life: the latency of epoch 10,000 of a job against its epoch 10.

One job decides epochs 0 to 10,209 in order over one keep-alive connection, on a fresh server
per database (the decisions table grows with it). In two windows of its life, epochs 10-209
("epoch 10") and 10,010-10,209 ("epoch 10,000"), each decision is followed by a request to the
database's durable floor, so each window's p50 is also a ratio over a floor measured in the same
seconds (the machine's load moves both alike). The figures: each window's p50 over its floor's,
and the second over the first; then a new job's epochs 10-209 on the grown table, also in turns
(what another job pays for one that ran long). `--quick`: epoch 1,000 instead of 10,000.
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

WINDOW = 200
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


def timed_epochs(
    client: httpx.Client, job_id: str, epochs: range, floor: httpx.Client | None = None
) -> tuple[list[float], list[float]]:
    """Decide `epochs` of `job_id` in order; each request's seconds, and with `floor`, the
    seconds of a floor request made after each decision (request by request, in turns)."""
    durations: list[float] = []
    floor_durations: list[float] = []
    for epoch in epochs:
        for target, durations_of in ((client, durations), (floor, floor_durations)):
            if target is None:
                continue
            started = time.perf_counter()
            response = target.post(decision_path(job_id, epoch), json=decision_body(epoch))
            durations_of.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{job_id} {epoch}: {response.status_code} {response.text}")
    return durations, floor_durations


def _window(lrhub: list[float], floor: list[float]) -> dict[str, Any]:
    decision, baseline = latency_summary(lrhub), latency_summary(floor)
    return {
        "decision": decision,
        "floor": baseline,
        "p50_over_floor": ratio(decision["p50_ms"], baseline["p50_ms"]),
    }


def measure(lrhub: Target, floor: Target, late: int) -> dict[str, Any]:
    """One job's life up to epoch `late` + 10 + `WINDOW`: its windows in turns with the floor,
    request by request; then a new job's first window."""
    windows: dict[str, tuple[list[float], list[float]]] = {}
    with (
        httpx.Client(base_url=lrhub.server.url, timeout=30) as client,
        httpx.Client(base_url=floor.server.url, timeout=30) as floor_client,
    ):
        # A fresh server's first requests warm its caches: one 100-epoch job on each first.
        timed_job_run(floor_client, floor, "drift-warmup")
        timed_job_run(client, lrhub, "drift-warmup")
        for job_id, name in (("drift", "early"), ("drift-new", "new_job")):
            create_job(client, job_id)
            timed_epochs(client, job_id, range(EARLY))
            windows[name] = timed_epochs(client, job_id, range(EARLY, EARLY + WINDOW), floor_client)
            if name == "early":
                timed_epochs(client, job_id, range(EARLY + WINDOW, late + EARLY))
                late_window = range(late + EARLY, late + EARLY + WINDOW)
                windows["late"] = timed_epochs(client, job_id, late_window, floor_client)
    summaries = {name: _window(*samples) for name, samples in windows.items()}
    early = summaries["early"]["p50_over_floor"]
    return {
        "late_epoch": late,
        "windows": summaries,
        "late_over_early": ratio(summaries["late"]["p50_over_floor"], early),
        "new_job_over_early": ratio(summaries["new_job"]["p50_over_floor"], early),
        "late_over_early_raw": ratio(
            summaries["late"]["decision"]["p50_ms"], summaries["early"]["decision"]["p50_ms"]
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
    return {"target": FLAT_TARGET, "window": WINDOW, "databases": results}
