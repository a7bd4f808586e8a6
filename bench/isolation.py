"""One job's costliest request against another job's decisions, on one worker.

A "heavy" job asks, back to back, for the costliest decision the default limits allow: a long
step-unit formula with as many steps per epoch as `LRHUB_MAX_EVALUATION_COST` admits (about
three seconds of the engine's work each, and a 1.7 MB answer). Meanwhile a "light" job decides
its epochs one after the other over its own connection, as in the latency benchmark. The light
job's latency while the heavy one runs is held against 50 ms (issue 11), and against the same
light job's latency on the same server with nothing else running, measured just before.

The default server evaluates the heavy request in its evaluation pool (a separate process,
`LRHUB_PROCESS_EVALUATION_COST`); the same measurement on a server told to evaluate everything
in its own process (`LRHUB_EVALUATION_PROCESSES=0`, what every server did before the pool) is
the baseline of the same run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.postgres import scratch_postgres
from bench.servers import lrhub_server
from bench.stats import latency_summary, ratio
from bench.targets import POSTGRESQL, SQLITE
from bench.workload import EPOCHS_PER_JOB, create_job, decision_body, decision_path
from lrhub.schedules import evaluation_cost, parse_spec
from lrhub.service.limits import DEFAULT_MAX_EVALUATION_COST, DEFAULT_MAX_STEPS_PER_EPOCH
from tests.service.helpers import HEAVY_FORMULA
from tests.support.server import ServerProcess

LIGHT_TARGET_MS = 50.0
# The server as every server was before costly evaluations moved to a separate process.
IN_PROCESS_ENV = {"LRHUB_EVALUATION_PROCESSES": "0"}


def heavy_steps() -> int:
    """The most steps per epoch the default limits allow for HEAVY_FORMULA."""
    per_rate = evaluation_cost(parse_spec(HEAVY_FORMULA))
    return min(DEFAULT_MAX_STEPS_PER_EPOCH, DEFAULT_MAX_EVALUATION_COST // per_rate)


def light_latencies(url: str, job_prefix: str, jobs: int) -> list[float]:
    """Seconds per decision of `jobs` light 100-epoch jobs, decided one after the other."""
    durations = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for job in range(jobs):
            job_id = f"{job_prefix}-{job}"
            create_job(client, job_id)
            for epoch in range(EPOCHS_PER_JOB):
                started = time.perf_counter()
                response = client.post(decision_path(job_id, epoch), json=decision_body(epoch))
                durations.append(time.perf_counter() - started)
                response.raise_for_status()
    return durations


def heavy_loop(url: str, stop: threading.Event, seconds: list[float]) -> None:
    """Decide new epochs of the heavy job until `stop`; each request's duration in `seconds`."""
    steps = heavy_steps()
    with httpx.Client(base_url=url, timeout=120) as client:
        client.put("/v1/jobs/heavy", json={"spec": HEAVY_FORMULA}).raise_for_status()
        epoch = 0
        while not stop.is_set():
            started = time.perf_counter()
            body = {"metrics": {}, "steps_per_epoch": steps}
            client.post(decision_path("heavy", epoch), json=body).raise_for_status()
            seconds.append(time.perf_counter() - started)
            epoch += 1


def measure(url: str, jobs: int) -> dict[str, Any]:
    """The light job's latency alone, then while the heavy job runs."""
    light_latencies(url, "warmup", 1)
    alone = latency_summary(light_latencies(url, "alone", jobs))
    stop = threading.Event()
    heavy: list[float] = []
    thread = threading.Thread(target=heavy_loop, args=(url, stop, heavy), daemon=True)
    thread.start()
    # Wait for the heavy job's first request to be under way (registered and sent).
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, timeout=10) as client:
        while client.get("/v1/jobs/heavy").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("the heavy job never registered")
            time.sleep(0.05)  # polling interval, bounded by the deadline
    try:
        during_seconds = light_latencies(url, "during", jobs)
        during = latency_summary(during_seconds) | {"max_ms": max(during_seconds) * 1e3}
    finally:
        stop.set()
        thread.join(timeout=120)
    return {
        "light_alone": alone,
        "light_during_heavy": during,
        "p50_over_alone": ratio(during["p50_ms"], alone["p50_ms"]),
        "heavy_requests": len(heavy),
        "heavy_seconds_p50": sorted(heavy)[len(heavy) // 2] if heavy else None,
        "target_met": during["p99_ms"] <= LIGHT_TARGET_MS,
    }


@contextmanager
def isolation_server(
    config: BenchConfig, database: str, env: dict[str, str] | None
) -> Iterator[ServerProcess]:
    """A fresh server on `database` (SQLite, or a scratch PostgreSQL database)."""
    name = f"isolation-{database}" + ("-in-process" if env else "")
    if database == SQLITE:
        with lrhub_server(config.workdir / name, env=env) as server:
            yield server
        return
    assert config.postgres_url is not None
    with (
        scratch_postgres(config.postgres_url) as url,
        lrhub_server(config.workdir / name, url, env=env) as server,
    ):
        yield server


def run(config: BenchConfig) -> dict[str, Any]:
    """Light-job latency under the costliest request, on SQLite and PostgreSQL, with the default
    server and with one that evaluates in its own process."""
    jobs = config.scaled(quick=1, full=5)
    databases = [SQLITE] + ([POSTGRESQL] if config.postgres_url is not None else [])
    results: dict[str, Any] = {}
    in_process: dict[str, Any] = {}
    for database in databases:
        with isolation_server(config, database, None) as server:
            results[database] = measure(server.url, jobs)
        with isolation_server(config, database, IN_PROCESS_ENV) as server:
            in_process[database] = measure(server.url, jobs)
    return {
        "heavy_steps_per_epoch": heavy_steps(),
        "light_target_ms": LIGHT_TARGET_MS,
        "databases": results,
        "in_process": in_process,
    }
