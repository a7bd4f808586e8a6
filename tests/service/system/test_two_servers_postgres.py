"""Two real `lrhub serve` processes on one PostgreSQL database behave like one.

Dozens of jobs run concurrently; each request goes to the other server than the last one, some
are sent to both servers at the same instant, some are retried later on the other server, and
some jobs resume from an older checkpoint (a rewind) on the way. Every job must end with the
decisions an undisturbed single server gives, the engine's rates, and a history with exactly
one non-superseded row per epoch.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lrhub.schedules import decide, parse_spec
from tests.support.postgres import scratch_database
from tests.support.prometheus import decisions_by_outcome
from tests.support.server import ServerProcess, launch_server, running_replicas, running_server
from tests.support.workload import (
    REQUEST_TIMEOUT_SECONDS,
    JobPlan,
    Step,
    assert_history_matches,
    build_plans,
    create_job,
    decision_essence,
    fetch_history,
    post_decision,
    run_sequentially,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

JOBS = 24
EPOCHS = 16
BARRIER_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def two_servers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers sharing a fresh PostgreSQL database; the second starts on the schema the
    first one created, as a replica joining a running deployment does."""
    with (
        scratch_database(postgres_url) as database_url,
        running_replicas(tmp_path, database_url) as servers,
    ):
        yield servers


def send_simultaneously(urls: tuple[str, str], job_id: str, step: Step) -> list[dict[str, Any]]:
    """The same decision request sent to both servers at the same instant."""
    barrier = threading.Barrier(len(urls))

    def send(url: str) -> dict[str, Any]:
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
            barrier.wait(BARRIER_TIMEOUT_SECONDS)
            return post_decision(client, url, job_id, step)

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(send, urls))


def drive_job(urls: tuple[str, str], plan: JobPlan) -> tuple[list[dict[str, Any]], int]:
    """Run one job through both servers; answers its final decision of each epoch and how many
    late replays it sent.

    Step i goes to server i % 2. Every fourth step is sent to both at once; the others are
    retried on the other server after the answer, and sometimes an epoch two back is replayed.
    """
    in_force: dict[int, tuple[Step, dict[str, Any]]] = {}
    last_epoch = -1
    late_replays = 0
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        create_job(client, urls[0], plan)
        assert create_job(client, urls[1], plan)["job_id"] == plan.job_id
        for index, step in enumerate(plan.steps()):
            primary, other = urls[index % 2], urls[(index + 1) % 2]
            if index % 4 == 1:
                pair = send_simultaneously((primary, other), plan.job_id, step)
                # One request decided the epoch; the other waited for it and replayed it.
                assert sorted(answer["replayed"] for answer in pair) == [False, True], pair
                assert decision_essence(pair[0]) == decision_essence(pair[1])
                decision = next(answer for answer in pair if not answer["replayed"])
            else:
                decision = post_decision(client, primary, plan.job_id, step)
                assert not decision["replayed"], decision
                retry = post_decision(client, other, plan.job_id, step)
                assert retry["replayed"], retry
                assert decision_essence(retry) == decision_essence(decision)
            assert decision["rewound"] == (step.epoch <= last_epoch), decision
            assert decision["gap"] == 0, decision
            last_epoch = step.epoch
            in_force[step.epoch] = (step, decision)
            if index % 5 == 4 and step.epoch >= 2:
                earlier_step, earlier = in_force[step.epoch - 2]
                late = post_decision(client, other, plan.job_id, earlier_step)
                assert late["replayed"], late
                assert decision_essence(late) == decision_essence(earlier)
                late_replays += 1
    return [in_force[epoch][1] for epoch in range(plan.epochs)], late_replays


def test_two_servers_decide_like_one(
    tmp_path: Path, two_servers: tuple[ServerProcess, ServerProcess]
) -> None:
    plans = build_plans("pg-pair", JOBS, EPOCHS, seed=3)
    urls = (two_servers[0].url, two_servers[1].url)

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        runs = dict(
            zip(
                (plan.job_id for plan in plans),
                pool.map(lambda plan: drive_job(urls, plan), plans),
                strict=True,
            )
        )

    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    with running_server(reference_dir) as single:
        reference = run_sequentially(single.url, plans)

    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for plan in plans:
            decisions, _ = runs[plan.job_id]
            assert [decision_essence(d) for d in decisions] == [
                decision_essence(d) for d in reference[plan.job_id]
            ], plan.job_id
            assert [d["state"] for d in decisions] == [d["state"] for d in reference[plan.job_id]]
            assert [d["learning_rate"] for d in decisions] == plan.expected_rates(), plan.job_id

            rows = fetch_history(client, urls, plan.job_id, superseded="true")
            assert_history_matches(rows, plan, decisions)

            for url in urls:
                job = client.get(f"{url}/v1/jobs/{plan.job_id}").json()
                assert job["last_epoch"] == plan.epochs - 1, job
                assert job["learning_rate"] == decisions[-1]["learning_rate"], job
                assert job["state"] == decisions[-1]["state"], job

        # Across both processes each request was decided once: every other copy was a replay.
        requests = sum(len(plan.steps()) for plan in plans)
        rewinds = sum(1 for plan in plans if plan.abandoned)
        late_replays = sum(late for _, late in runs.values())
        both = decisions_by_outcome(client, urls[0]) + decisions_by_outcome(client, urls[1])
        assert both == Counter(
            new=requests - rewinds, rewound=rewinds, replayed=requests + late_replays
        )


def test_two_servers_starting_together_on_an_empty_database(
    tmp_path: Path, postgres_url: str
) -> None:
    """Replicas of a new deployment start at once: both create or migrate the same empty
    schema, and both must come up serving the same data."""
    with scratch_database(postgres_url) as database_url:
        servers = [launch_server(tmp_path, database_url=database_url) for _ in range(2)]
        try:
            for server in servers:
                server.wait_ready()
            with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
                spec = {"type": "constant", "learning_rate": 0.01}
                created = client.put(f"{servers[0].url}/v1/schedules/shared", json={"spec": spec})
                assert created.status_code == 201, created.text
                read = client.get(f"{servers[1].url}/v1/schedules/shared")
                assert read.status_code == 200, read.text
                assert read.json()["spec"] == created.json()["spec"]
        finally:
            for server in servers:
                server.stop()


def test_two_servers_racing_on_one_epoch_land_one_decision_and_one_rewind(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    """Both servers have the job's row cached, and both decide the same epoch at the same instant
    with different metrics: their compare-and-sets race. Exactly one lands first as the new
    decision; the other, finding the row changed, decides again and rewinds it, so the history
    keeps one decision per epoch and the job ends as the engine decides the surviving metrics."""
    urls = (two_servers[0].url, two_servers[1].url)
    spec = {"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.5, "patience": 1,
            "initial_learning_rate": 0.1, "semantics": "torch"}  # fmt: skip
    job_id = "cas-race"
    survivors: list[dict[str, float]] = []
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        assert client.put(f"{urls[0]}/v1/jobs/{job_id}", json={"spec": spec}).status_code == 201
        for url in urls:  # warm both servers' cached rows
            assert client.post(f"{url}/v1/jobs/{job_id}/epochs/0", json={}).status_code == 200
        for epoch in range(1, 13):
            barrier = threading.Barrier(2)

            def send(index: int, epoch: int = epoch, barrier: threading.Barrier = barrier) -> Any:
                metrics = {"val_loss": 1.0 if index == 0 else 2.0}
                with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as each:
                    barrier.wait(BARRIER_TIMEOUT_SECONDS)
                    url = f"{urls[index]}/v1/jobs/{job_id}/epochs/{epoch}"
                    answer = each.post(url, json={"metrics": metrics})
                assert answer.status_code == 200, answer.text
                return metrics, answer.json()

            with ThreadPoolExecutor(max_workers=2) as pool:
                pair = list(pool.map(send, range(2)))
            assert not any(answer["replayed"] for _, answer in pair), pair
            assert sorted(answer["rewound"] for _, answer in pair) == [False, True], pair
            survivors.append(next(metrics for metrics, answer in pair if answer["rewound"]))

        rows = fetch_history(client, urls, job_id, superseded="false")
    assert [row["epoch"] for row in rows] == list(range(13))
    assert [row["input_metrics"] for row in rows[1:]] == survivors
    state: dict[str, Any] | None = None
    parsed = parse_spec(spec)
    for epoch, row in enumerate(rows):
        decision = decide(parsed, state, epoch=epoch, metrics=row["input_metrics"])
        state = decision.state
        assert row["learning_rate"] == decision.learning_rate, epoch
