"""A server SIGKILLed in the middle of many jobs loses nothing and decides nothing twice.

Twenty jobs report epochs from threads; some resume from an older checkpoint on the way. Once
a third of the decisions are answered the server is killed (no shutdown hook runs), a new one
starts on the same SQLite file and port, and the clients retry whatever failed with the same
epoch and metrics. Each job must end with an uninterrupted run's decisions, the engine's rates,
and exactly one non-superseded history row per epoch.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import running_server, start_server
from tests.support.workload import (
    REQUEST_TIMEOUT_SECONDS,
    DecisionCounter,
    JobPlan,
    assert_history_matches,
    build_plans,
    create_job,
    decision_essence,
    fetch_history,
    final_decisions,
    post_decision,
    run_sequentially,
)

pytestmark = pytest.mark.slow

JOBS = 20
EPOCHS = 30
# How long clients keep retrying one request: covers a restart, bounds a hung test.
RETRY_WINDOW_SECONDS = 120.0


def drive_job(url: str, plan: JobPlan, counter: DecisionCounter) -> list[dict[str, Any]]:
    """Send every step of `plan` in order, retrying each until the server answers; answers
    the job's final decision of each epoch."""
    steps = plan.steps()
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        # The kill can land while a job is being created: that PUT is retried like the rest.
        create_job(client, url, plan, retry_until=time.monotonic() + RETRY_WINDOW_SECONDS)
        answers = [
            post_decision(
                client,
                url,
                plan.job_id,
                step,
                retry_until=time.monotonic() + RETRY_WINDOW_SECONDS,
                counter=counter,
            )
            for step in steps
        ]
    return final_decisions(steps, answers)


def test_jobs_survive_sigkill_of_the_server(tmp_path: Path) -> None:
    plans = build_plans("killed", JOBS, EPOCHS, seed=7)
    requests = sum(len(plan.steps()) for plan in plans)
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    with running_server(reference_dir) as undisturbed:
        reference = run_sequentially(undisturbed.url, plans)

    counter = DecisionCounter()
    server = start_server(tmp_path)
    try:
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            running = [pool.submit(drive_job, server.url, plan, counter) for plan in plans]
            assert counter.wait_for(requests // 3, timeout=RETRY_WINDOW_SECONDS)
            server.kill()
            answered_before_kill = counter.answered
            server = start_server(tmp_path, port=server.port)
            results = [future.result() for future in running]

        # The kill really interrupted the run: answers were still to come, and clients saw
        # failures they had to retry.
        assert answered_before_kill < requests
        assert counter.retried > 0
        with sqlite3.connect(tmp_path / "lrhub.db") as database:
            assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            for plan, decisions in zip(plans, results, strict=True):
                rates = [decision["learning_rate"] for decision in decisions]
                assert rates == plan.expected_rates(), plan.job_id
                assert [decision_essence(d) for d in decisions] == [
                    decision_essence(d) for d in reference[plan.job_id]
                ], plan.job_id
                rows = fetch_history(client, [server.url], plan.job_id, superseded="true")
                assert_history_matches(rows, plan, decisions)
    finally:
        server.stop()
