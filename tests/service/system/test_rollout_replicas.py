"""Rollouts on two real `lrhub serve` replicas sharing one PostgreSQL database, both running the
judge: every rollout is judged and acted on exactly once, whichever replica's judge gets it."""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lrhub.client import StreamEvent
from tests.support.event_stream import StreamFollower
from tests.support.fleet import SimulatedJob
from tests.support.postgres import scratch_database
from tests.support.server import ServerProcess, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Both judges look often, so they compete for every rollout that becomes due.
ENV = {"LRHUB_ROLLOUT_JUDGE_INTERVAL": "0.02", "LRHUB_STREAM_POLL_SECONDS": "0.05"}
GROUPS = ("a", "b", "c")
JOBS_PER_GROUP = 4
QUIET_SECONDS = 1.0
CONSTANT = {"type": "constant", "learning_rate": 0.1}
ANALYSIS = {"metric": "val_loss", "mode": "min", "epochs": 2, "max_regression": 0.02}


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with scratch_database(postgres_url, prefix="lrhub_roll") as database_url:
        first = start_server(tmp_path, database_url=database_url, env=ENV)
        try:
            second = start_server(tmp_path, database_url=database_url, env=ENV)
            try:
                yield first, second
            finally:
                second.stop()
        finally:
            first.stop()


def _train(client: httpx.Client, jobs: list[SimulatedJob], epochs: int) -> None:
    for job in jobs:
        for _ in range(epochs):
            epoch = len(job.losses)
            answer = client.post(
                f"/v1/jobs/{job.job_id}/epochs/{epoch}", json={"metrics": job.metrics_for(epoch)}
            )
            assert answer.status_code == 200, answer.text
            loss = job.train_epoch(answer.json()["learning_rate"])
            ended = client.put(
                f"/v1/jobs/{job.job_id}/epochs/{epoch}/metrics",
                json={"metrics": {"val_loss": loss}},
            )
            assert ended.status_code == 200, ended.text


def _rollout_events(follower: StreamFollower, count: int) -> list[StreamEvent]:
    """The next `count` rollout events, then any more that follow within a quiet second (a
    second judge acting again would add some)."""
    events: list[StreamEvent] = []
    while len(events) < count:
        events += [event for event in follower.take(1) if event.event == "rollout"]
    while True:
        try:
            item = follower.events.get(timeout=QUIET_SECONDS)
        except queue.Empty:
            return events
        if isinstance(item, StreamEvent) and item.event == "rollout":
            events.append(item)


def test_two_judging_replicas_act_on_each_rollout_once(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = replicas
    follower = StreamFollower(first.url)
    rng = random.Random(11)
    with httpx.Client(base_url=first.url) as one, httpx.Client(base_url=second.url) as other:
        fleets: dict[str, list[SimulatedJob]] = {}
        for group in GROUPS:
            fleets[group] = []
            for index in range(JOBS_PER_GROUP):
                job_id = f"{group}-{index}"
                created = one.put(
                    f"/v1/jobs/{job_id}",
                    json={
                        "spec": {"type": "constant", "learning_rate": 0.1},
                        "labels": {"g": group},
                    },
                )
                assert created.status_code == 201, created.text
                fleets[group].append(SimulatedJob(job_id, random.Random(rng.random())))
            _train(one, fleets[group], 2)
        rollouts = {}
        for group in GROUPS:
            body = {
                "selector": f"g={group}",
                "change": {"scale": 0.01},
                "canary": 0.5,
                "analysis": ANALYSIS,
            }
            answer = other.post("/v1/rollouts", json=body)
            assert answer.status_code == 201, answer.text
            rollouts[answer.json()["rollout_id"]] = answer.json()
        for group in GROUPS:
            _train(one, fleets[group], 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = {rid: other.get(f"/v1/rollouts/{rid}").json()["state"] for rid in rollouts}
            if set(states.values()) == {"reverted"}:
                break
            time.sleep(0.05)
        assert set(states.values()) == {"reverted"}, states
        # Per rollout: created, failed, reverted: each state once, whichever judge acted.
        events = _rollout_events(follower, 3 * len(rollouts))
        seen: dict[str, list[str]] = {}
        for event in events:
            seen.setdefault(event.data["rollout_id"], []).append(event.data["state"])
        assert seen == {rid: ["analyzing", "failed", "reverted"] for rid in rollouts}
        judges = {event.data["actor"] for event in events if event.data["state"] == "reverted"}
        assert all(judge.startswith("judge:") for judge in judges), judges
        for rollout_id, created in rollouts.items():
            for job_id in created["canary"]:
                changed = [
                    event
                    for event in one.get(f"/v1/jobs/{job_id}/events").json()["items"]
                    if event["change_id"] == created["change_id"]
                ]
                assert len(changed) == 2, (rollout_id, job_id, changed)  # applied, reverted
                assert one.get(f"/v1/jobs/{job_id}").json()["scale"] == 1.0
