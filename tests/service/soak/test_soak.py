"""Long runs against a real server on its default SQLite store: one job of 10,000 epochs, and
1,000 short jobs.

The server's memory must stay flat once warmed up, and every decision must be in the history
exactly once. Memory is the resident set size of the `lrhub serve` process, sampled by progress
(every so many decisions), never by time.

Why +50 MB: after warm-up the process holds the interpreter, FastAPI, SQLAlchemy and SQLite's
page cache (about 85 MB here); what may still grow legitimately is small: allocator
fragmentation and the per-job rate gauge (bounded to 10,000 series, a few hundred bytes each).
The bound is generous so that a shared machine's noise never trips it, yet it catches a leak
that keeps anything per decision of about 6 KB or more (a response, a request scope, ORM rows)
over the 9,000 decisions after warm-up of the long job, or about 14 KB per decision over the
short jobs' 3,666. Both runs measured about 1 MB of growth.
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process_memory import resident_bytes
from tests.support.server import ServerProcess, running_server
from tests.support.workload import (
    REQUEST_TIMEOUT_SECONDS,
    SPEC_MIX,
    DecisionCounter,
    JobPlan,
    assert_history_matches,
    build_plans,
    create_job,
    fetch_history,
    final_decisions,
    metric_series,
    post_decision,
)

pytestmark = pytest.mark.slow

LONG_EPOCHS = 10_000
MANY_JOBS = 1_000
MANY_EPOCHS = 4
CLIENT_THREADS = 4
# Decisions answered before the baseline is taken: imports, caches and pools are warm by then.
WARMUP_DECISIONS = 1_000
SAMPLE_EVERY = 1_000
# How long the clients may take for SAMPLE_EVERY decisions (about 9 s here): bounds a hung run.
SAMPLE_DEADLINE_SECONDS = 120.0
MEMORY_GROWTH_BOUND_BYTES = 50 * 1024 * 1024
HISTORY_PAGE_SIZE = 1_000
PLATEAU_SPEC = SPEC_MIX[0]


class MemorySamples:
    """RSS of a process, sampled whenever a decision count is reached."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.by_decisions: dict[int, int] = {}

    def sample(self, decisions: int) -> None:
        """Record the RSS now, labelled with how many decisions were answered."""
        self.by_decisions[decisions] = resident_bytes(self.pid)

    def assert_flat_after(self, warmup: int) -> None:
        """The last sample exceeds the one at `warmup` by at most the bound."""
        last = max(self.by_decisions)
        growth = self.by_decisions[last] - self.by_decisions[warmup]
        print(f"\nRSS MB by decisions: { {k: v >> 20 for k, v in self.by_decisions.items()} }")
        assert growth <= MEMORY_GROWTH_BOUND_BYTES, (
            f"RSS grew {growth >> 20} MB from {warmup} to {last} decisions: {self.by_decisions}"
        )


def epochs_in_csv(text: str) -> list[int]:
    """The epoch column of a history CSV, checking its header."""
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, text[:500]
    return [int(row["epoch"]) for row in rows]


def test_a_job_of_ten_thousand_epochs(tmp_path: Path) -> None:
    plan = JobPlan(
        job_id="soak-long",
        spec=PLATEAU_SPEC,
        metrics=metric_series(random.Random(5), LONG_EPOCHS),
    )
    started = time.monotonic()
    with (
        running_server(tmp_path) as server,
        httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client,  # one keep-alive connection
    ):
        memory = MemorySamples(server.process.pid)
        create_job(client, server.url, plan)
        answers = []
        for step in plan.steps():
            answers.append(post_decision(client, server.url, plan.job_id, step))
            if len(answers) % SAMPLE_EVERY == 0:
                memory.sample(len(answers))
        decided = time.monotonic()

        rows = fetch_history(client, [server.url], plan.job_id, page_size=HISTORY_PAGE_SIZE)
        csv_answer = client.get(f"{server.url}/v1/jobs/{plan.job_id}/epochs?format=csv")
        assert csv_answer.status_code == 200, csv_answer.text
    print(f"\n{LONG_EPOCHS} epochs decided in {decided - started:.1f}s")

    memory.assert_flat_after(WARMUP_DECISIONS)
    rates = [answer["learning_rate"] for answer in answers]
    assert rates == plan.expected_rates()
    assert [row["epoch"] for row in rows] == list(range(LONG_EPOCHS))
    assert [row["learning_rate"] for row in rows] == rates
    assert epochs_in_csv(csv_answer.text) == list(range(LONG_EPOCHS))


def drive_short_job(url: str, plan: JobPlan, counter: DecisionCounter) -> list[dict[str, Any]]:
    """Create the job and send its steps in order; answers its final decisions."""
    steps = plan.steps()
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        create_job(client, url, plan)
        answers = [post_decision(client, url, plan.job_id, s, counter=counter) for s in steps]
    return final_decisions(steps, answers)


def check_histories(
    server: ServerProcess, plans: Sequence[JobPlan], decisions: Sequence[list[dict[str, Any]]]
) -> None:
    """Every job's paged history: each epoch in force once, abandoned ones superseded."""
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for plan, final in zip(plans, decisions, strict=True):
            rows = fetch_history(client, [server.url], plan.job_id, superseded="true")
            assert_history_matches(rows, plan, final)


def test_a_thousand_short_jobs(tmp_path: Path) -> None:
    plans = build_plans("soak-many", MANY_JOBS, MANY_EPOCHS, seed=13)
    requests = sum(len(plan.steps()) for plan in plans)
    counter = DecisionCounter()
    started = time.monotonic()
    with running_server(tmp_path) as server:
        memory = MemorySamples(server.process.pid)
        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            running = [pool.submit(drive_short_job, server.url, plan, counter) for plan in plans]
            for answered in range(SAMPLE_EVERY, requests + 1, SAMPLE_EVERY):
                assert counter.wait_for(answered, timeout=SAMPLE_DEADLINE_SECONDS)
                memory.sample(answered)
            decisions = [future.result() for future in running]
        memory.sample(requests)
        decided = time.monotonic()
        check_histories(server, plans, decisions)
    print(f"\n{MANY_JOBS} jobs, {requests} decisions in {decided - started:.1f}s")

    memory.assert_flat_after(WARMUP_DECISIONS)
    for plan, final in zip(plans, decisions, strict=True):
        assert [d["learning_rate"] for d in final] == plan.expected_rates(), plan.job_id
