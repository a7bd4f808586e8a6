"""Scale: decision latency, list/history paging and server memory as jobs and history grow.

One database grows from 10 to 1,000 to 10,000 jobs of 100 decided epochs each (a million
history rows at the top). At each size a freshly started server (one worker) decides a new
epoch for jobs spread over the whole table, pages through the job list and through job
histories, and then its resident memory is read. Decisions alternate, block by block, with
the same requests to the no-op floor, so each size's latency is also a ratio over a floor
measured at the same moment; the smallest size is the baseline of those ratios.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.postgres import scratch_postgres
from bench.seeding import copy_template_job, decide_template_job, seeded_job_id
from bench.servers import floor_server, lrhub_server, resident_memory_bytes
from bench.stats import latency_summary, ratio
from bench.targets import FLOOR, POSTGRESQL, SAMPLE_JOB, SQLITE, sample_decision
from bench.workload import EPOCHS_PER_JOB, decision_body, decision_path

# Page sizes that even the smallest size fills, so every size compares full pages.
LIST_PAGE = 10
HISTORY_PAGE = 20
# Decisions sent to lrhub, then the same ones to the floor, and so on.
BLOCK = 20
WARMUP = 40


def timed_get(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, Any]:
    """Seconds for one GET, and its JSON answer."""
    started = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def paged_times(client: httpx.Client, path: str, limit: int) -> list[float]:
    """Follow `next_cursor` from the first page to the last; the duration of each full page
    (a short or empty last page would flatter the comparison)."""
    durations = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        elapsed, page = timed_get(client, path, params)
        if len(page["items"]) == limit:
            durations.append(elapsed)
        if page["next_cursor"] is None:
            return durations
        params["cursor"] = page["next_cursor"]


def decision_times(
    clients: dict[str, httpx.Client], job_ids: list[str], first_epoch: int, count: int
) -> dict[str, list[float]]:
    """`count` new-epoch decisions round-robin over `job_ids`, sent to each client in turn,
    `BLOCK` at a time; each client's request durations."""
    requests = [
        (job_ids[index % len(job_ids)], first_epoch + index // len(job_ids))
        for index in range(count)
    ]
    durations: dict[str, list[float]] = {name: [] for name in clients}
    for start in range(0, count, BLOCK):
        for name, client in clients.items():
            for job_id, epoch in requests[start : start + BLOCK]:
                started = time.perf_counter()
                response = client.post(decision_path(job_id, epoch), json=decision_body(epoch))
                durations[name].append(time.perf_counter() - started)
                response.raise_for_status()
    return durations


def spread(count: int, sample: int) -> list[str]:
    """At most `sample` job ids spread evenly over jobs 0..count-1."""
    return [seeded_job_id(index * count // sample) for index in range(min(sample, count))]


def measure_size(
    workdir: Path, database_url: str | None, jobs: int, first_epoch: int, sample: int
) -> dict[str, Any]:
    """Start a server on the seeded database, and the floor, and measure one size."""
    with (
        lrhub_server(workdir, database_url) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
        floor_server(workdir / "floor", sample_decision(server.url)) as floor,
        httpx.Client(base_url=floor.url, timeout=60) as floor_client,
    ):
        clients = {"lrhub": client, FLOOR: floor_client}
        # Warm-up: connections, pools, statement caches, on the job the floor's template came
        # from (not one of the measured jobs).
        decision_times(clients, [SAMPLE_JOB], first_epoch, WARMUP)
        decisions = decision_times(clients, spread(jobs, sample), first_epoch, sample)
        list_pages = paged_times(client, "/v1/jobs", LIST_PAGE)
        history_pages: list[float] = []
        for job_id in spread(jobs, 20):
            history_pages.extend(paged_times(client, f"/v1/jobs/{job_id}/epochs", HISTORY_PAGE))
        rss = resident_memory_bytes(server.process.pid)
    decision = latency_summary(decisions["lrhub"])
    floor_decision = latency_summary(decisions[FLOOR])
    return {
        "jobs": jobs,
        "history_rows": jobs * EPOCHS_PER_JOB,
        "decisions": sample,
        "decision": decision,
        "floor": floor_decision,
        "decision_p50_over_floor": ratio(decision["p50_ms"], floor_decision["p50_ms"]),
        "list_page": latency_summary(list_pages),
        "list_pages": len(list_pages),
        "first_list_page_ms": list_pages[0] * 1e3,
        "last_list_page_ms": list_pages[-1] * 1e3,
        "history_page": latency_summary(history_pages),
        "rss_mib": round(rss / 2**20, 1),
    }


@contextmanager
def database(config: BenchConfig, name: str) -> Iterator[str | None]:
    """A fresh database: None means the server's default SQLite file in its workdir."""
    if name == SQLITE:
        yield None
        return
    assert config.postgres_url is not None
    with scratch_postgres(config.postgres_url) as url:
        yield url


def grow_and_measure(
    config: BenchConfig, name: str, sizes: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Seed `name`'s database size by size and measure each; ratios over the smallest size."""
    workdir = config.workdir / f"scale-{name}"
    sample = config.scaled(quick=40, full=300)
    rows = []
    with database(config, name) as url:
        with (
            lrhub_server(workdir, url) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            decide_template_job(client)
        seeded = 1
        for step, jobs in enumerate(sizes):
            started = time.perf_counter()
            copy_template_job(url or f"sqlite:///{workdir / 'lrhub.db'}", range(seeded, jobs))
            seed_seconds = time.perf_counter() - started
            seeded = jobs
            # Epochs above any decided before, so every request is a new epoch: a job of a
            # small table gets several, a job sampled at an earlier size skips ahead.
            first_epoch = EPOCHS_PER_JOB + step * sample
            result = measure_size(workdir, url, jobs, first_epoch, sample)
            rows.append({"database": name, "seed_seconds": round(seed_seconds, 1), **result})
    # Over the floor first: the machine's load drifts between sizes, the floor drifts with it.
    smallest = rows[0]["decision_p50_over_floor"]
    for row in rows:
        row["decision_p50_vs_smallest"] = ratio(row["decision_p50_over_floor"], smallest)
    return rows


def run(config: BenchConfig) -> dict[str, Any]:
    """Every size on SQLite and (if configured) PostgreSQL."""
    sizes = (10, 100) if config.quick else (10, 1_000, 10_000)
    names = [SQLITE] + ([POSTGRESQL] if config.postgres_url else [])
    return {
        "sizes": list(sizes),
        "epochs_per_job": EPOCHS_PER_JOB,
        "list_page_size": LIST_PAGE,
        "history_page_size": HISTORY_PAGE,
        "runs": [row for name in names for row in grow_and_measure(config, name, sizes)],
    }
