"""Fleet control on two real `lrhub serve` replicas sharing one PostgreSQL database.

A client streams from one replica while decisions and bulk changes go to the other; the replica
it streams from is killed mid-stream and the client resumes on the survivor from its last event
id: it must end with every event exactly once, in id order. A bulk change races per-job PATCHes:
every job must end consistent with its audit log, and the bulk answer must say exactly which jobs
it changed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lrhub.client import Client, JobPatch, StreamEvent
from tests.support.event_stream import StreamFollower
from tests.support.postgres import scratch_database
from tests.support.server import ServerProcess, running_replicas

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
JOBS = 8
EPOCHS = 6
ENV = {"LRHUB_STREAM_POLL_SECONDS": "0.05"}


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (
        scratch_database(postgres_url) as database_url,
        running_replicas(tmp_path, database_url, ENV) as servers,
    ):
        yield servers


def _key(event: StreamEvent) -> tuple[Any, ...]:
    """What identifies an event's content (its id aside)."""
    data = event.data
    if event.event == "decision":
        return (event.event, data["job_id"], data["epoch"], data["decided_at"])
    return (event.event, data["job_id"], data["id"])


def test_a_stream_survives_its_replica_being_killed(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    streamed, survivor = replicas
    follower = StreamFollower(streamed.url, selector="team=vision")
    half = threading.Event()

    def train(job_id: str) -> None:
        with Client(survivor.url) as client:
            for epoch in range(EPOCHS):
                client.decide(job_id, epoch, metrics={"val_loss": 1.0 / (epoch + 1)})
                if epoch == EPOCHS // 2:
                    half.wait(timeout=60)

    with Client(survivor.url) as client:
        for index in range(JOBS):
            team = "vision" if index % 2 == 0 else "nlp"
            client.put_job(f"job-{index}", spec=DROP, labels={"team": team})
        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            runs = [pool.submit(train, f"job-{index}") for index in range(JOBS)]
            before_kill = follower.take(JOBS // 2 + 4)  # the creations and some decisions
            bulk = client.patch_jobs("team=vision", JobPatch(scale=0.5))
            streamed.kill()
            before_kill += follower.take_until_closed()
            half.set()
            for run in runs:
                run.result()
        final_bulk = client.patch_jobs("team=vision", JobPatch(paused=True))

    vision_jobs = {f"job-{index}" for index in range(0, JOBS, 2)}
    # Creations, decisions and two bulk changes of the vision jobs.
    expected = len(vision_jobs) * (1 + EPOCHS + 2)
    resumed = StreamFollower(survivor.url, selector="team=vision", after=before_kill[-1].id)
    after_kill = resumed.take(expected - len(before_kill))
    received = before_kill + after_kill
    ids = [event.id for event in received]
    assert ids == sorted(set(ids)), "an event was repeated or came out of order"
    assert {event.data["job_id"] for event in received} == vision_jobs
    everything = StreamFollower(survivor.url, selector="team=vision", after=0).take(expected)
    assert [(event.id, _key(event)) for event in received] == [
        (event.id, _key(event)) for event in everything
    ]
    decisions = [_key(event)[1:3] for event in received if event.event == "decision"]
    assert sorted(decisions) == sorted(
        (job, epoch) for job in vision_jobs for epoch in range(EPOCHS)
    )
    change_ids = {event.data["change_id"] for event in received if event.event == "change"}
    assert change_ids == {None, bulk.change_id, final_bulk.change_id}
    for follower_ in (follower, resumed):
        follower_.close()


def test_a_bulk_change_racing_per_job_patches(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    bulk_server, patch_server = replicas
    with Client(bulk_server.url) as client:
        for index in range(JOBS * 2):
            client.put_job(f"r-{index}", spec=DROP, labels={"team": "vision"})
    start = threading.Barrier(2)

    def bulk() -> Any:
        with Client(bulk_server.url) as client:
            start.wait(timeout=60)
            return client.patch_jobs("team=vision", JobPatch(scale=0.5))

    def patches() -> None:
        with httpx.Client(base_url=patch_server.url, timeout=30) as raw:
            start.wait(timeout=60)
            for index in range(JOBS * 2):
                # Odd jobs leave the selection, even ones only get another override.
                body: dict[str, Any] = (
                    {"labels": {"team": "nlp"}} if index % 2 else {"override": 0.001}
                )
                assert raw.patch(f"/v1/jobs/r-{index}", json=body).status_code == 200

    with ThreadPoolExecutor(max_workers=2) as pool:
        answer = pool.submit(bulk)
        pool.submit(patches).result()
        change = answer.result()

    outcomes = {job.job_id: job.outcome for job in change.jobs}
    assert set(outcomes) == {f"r-{index}" for index in range(JOBS * 2)}
    assert set(outcomes.values()) <= {"changed", "no_longer_matches"}
    with Client(patch_server.url) as client:
        for index in range(JOBS * 2):
            job_id = f"r-{index}"
            events = client.events(job_id).items
            bulk_events = [event for event in events if event.change_id == change.change_id]
            state = client.get_job(job_id)
            # The job's final configuration is its last audit event's: no update was lost.
            last = events[-1].after or {}
            assert (state.scale, state.override, state.labels) == (
                last["scale"],
                last["override"],
                last["labels"],
            )
            if outcomes[job_id] == "changed":
                assert len(bulk_events) == 1 and state.scale == 0.5
                # It matched when it was changed, and its answer shows that very change.
                assert bulk_events[0].before is not None
                assert bulk_events[0].before["labels"] == {"team": "vision"}
                answered = next(job for job in change.jobs if job.job_id == job_id)
                assert (answered.before, answered.after) == (
                    bulk_events[0].before,
                    bulk_events[0].after,
                )
            else:
                assert bulk_events == [] and state.scale == 1.0
                assert index % 2 == 1 and state.labels == {"team": "nlp"}
            if index % 2 == 0:
                assert outcomes[job_id] == "changed" and state.override == 0.001
