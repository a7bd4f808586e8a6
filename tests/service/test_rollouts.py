"""Rollouts (`/v1/rollouts`): a change tried on a canary cohort, judged, promoted or reverted,
on each database, with a simulated fleet whose loss responds to the rate it is answered."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lrhub.service.jobs.selectors import parse_selector
from lrhub.service.stream import service as stream_service
from tests.service.conftest import app_client
from tests.service.helpers import create_job, decide, problem
from tests.support.fleet import SimulatedJob

# The judge looks often, so a verdict follows the last report closely.
JUDGE_INTERVAL = 0.05
VERDICT_DEADLINE_SECONDS = 30.0
ANALYSIS = {"metric": "val_loss", "mode": "min", "epochs": 3, "max_regression": 0.02}


@pytest.fixture
def judged_api(db_url: str) -> Iterator[TestClient]:
    """The app with a fast rollout judge, on each database."""
    with app_client(db_url, rollout_judge_interval=JUDGE_INTERVAL) as client:
        yield client


@pytest.fixture
def unjudged_api(db_url: str) -> Iterator[TestClient]:
    """The app without a judge (rollouts stay under analysis), on each database."""
    with app_client(db_url, rollout_judge=False) as client:
        yield client


def _fleet(client: TestClient, size: int, rate: float, seed: int) -> dict[str, SimulatedJob]:
    rng = random.Random(seed)
    jobs = {}
    for index in range(size):
        job_id = f"sim-{index:02d}"
        create_job(
            client,
            job_id,
            spec={"type": "constant", "learning_rate": rate},
            labels={"fleet": "sim"},
        )
        jobs[job_id] = SimulatedJob(job_id, random.Random(rng.random()))
    return jobs


def _train(client: TestClient, jobs: dict[str, SimulatedJob], epochs: int) -> None:
    """Each job asks the service for its next epochs' rates, trains at them and reports each
    epoch's end."""
    for job in jobs.values():
        for _ in range(epochs):
            epoch = len(job.losses)
            answer = decide(client, job.job_id, epoch, job.metrics_for(epoch))
            loss = job.train_epoch(answer["learning_rate"])
            ended = client.put(
                f"/v1/jobs/{job.job_id}/epochs/{epoch}/metrics",
                json={"metrics": {"val_loss": loss}},
            )
            assert ended.status_code == 200, ended.text


def _create(client: TestClient, change: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"selector": "fleet=sim", "change": change, "canary": 0.5, "analysis": ANALYSIS}
    response = client.post("/v1/rollouts", json=body | fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _settled(client: TestClient, rollout_id: str) -> dict[str, Any]:
    """The rollout once the judge has moved it out of `analyzing`."""
    deadline = time.monotonic() + VERDICT_DEADLINE_SECONDS
    while True:
        rollout: dict[str, Any] = client.get(f"/v1/rollouts/{rollout_id}").json()
        if rollout["state"] != "analyzing" or time.monotonic() > deadline:
            return rollout
        time.sleep(JUDGE_INTERVAL)


def _job(client: TestClient, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
    return job


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"/v1/jobs/{job_id}/events").json()["items"]
    return items


def test_a_harmful_change_is_reverted_exactly(judged_api: TestClient) -> None:
    jobs = _fleet(judged_api, 8, rate=0.1, seed=1)
    _train(judged_api, jobs, 3)
    before = {job_id: _job(judged_api, job_id) for job_id in jobs}
    created = _create(judged_api, {"scale": 0.01, "follow": "pinned"})
    assert created["state"] == "analyzing"
    canary, control = created["canary"], created["control"]
    assert len(canary) == 4 and sorted(canary + control) == sorted(jobs)
    for job_id in canary:
        assert _job(judged_api, job_id)["scale"] == 0.01
    for job_id in control:
        assert _job(judged_api, job_id)["scale"] == 1.0
    _train(judged_api, jobs, 3)
    rollout = _settled(judged_api, created["rollout_id"])
    assert rollout["state"] == "reverted", rollout
    verdict = rollout["verdict"]
    assert verdict["passed"] is False
    assert verdict["canary_median"] - verdict["control_median"] > ANALYSIS["max_regression"]
    assert {figure["job_id"] for figure in verdict["jobs"]} == set(jobs)
    for job_id in jobs:
        after = _job(judged_api, job_id)
        for field in ("scale", "override", "paused", "status", "schedule", "spec", "labels"):
            assert after[field] == before[job_id][field], (job_id, field)
    for job_id in canary:
        changed, reverted = _events(judged_api, job_id)[-2:]
        assert changed["change_id"] == reverted["change_id"] == created["change_id"]
        assert reverted["after"] == changed["before"]
    record = judged_api.get(f"/v1/changes/{created['change_id']}").json()
    assert sorted(job["job_id"] for job in record["jobs"]) == sorted(canary)


def test_a_helpful_change_is_promoted_to_the_control(judged_api: TestClient) -> None:
    jobs = _fleet(judged_api, 8, rate=0.01, seed=2)
    _train(judged_api, jobs, 2)
    created = _create(judged_api, {"scale": 10.0})
    _train(judged_api, jobs, 3)
    rollout = _settled(judged_api, created["rollout_id"])
    assert rollout["state"] == "promoted", rollout
    assert rollout["verdict"]["canary_median"] < rollout["verdict"]["control_median"]
    for job_id in jobs:
        assert _job(judged_api, job_id)["scale"] == 10.0
    record = judged_api.get(f"/v1/changes/{created['change_id']}").json()
    assert record["matched"] == 8 and len(record["jobs"]) == 8


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_change_that_changes_no_rate_is_not_reverted(judged_api: TestClient, seed: int) -> None:
    jobs = _fleet(judged_api, 10, rate=0.1, seed=seed)
    _train(judged_api, jobs, 2)
    created = _create(judged_api, {"override": 0.1}, canary={"count": 4})
    _train(judged_api, jobs, 3)
    rollout = _settled(judged_api, created["rollout_id"])
    assert rollout["state"] == "promoted", rollout
    assert all(_job(judged_api, job_id)["override"] == 0.1 for job_id in jobs)


def test_manual_modes_wait_for_the_operator(judged_api: TestClient) -> None:
    jobs = _fleet(judged_api, 6, rate=0.1, seed=6)
    _train(judged_api, jobs, 2)
    created = _create(judged_api, {"scale": 0.01}, revert="manual", promote="manual")
    _train(judged_api, jobs, 3)
    rollout = _settled(judged_api, created["rollout_id"])
    assert rollout["state"] == "failed"
    assert all(_job(judged_api, job_id)["scale"] == 0.01 for job_id in created["canary"])
    reverted = judged_api.post(f"/v1/rollouts/{created['rollout_id']}/revert")
    assert reverted.status_code == 200 and reverted.json()["state"] == "reverted"
    assert all(_job(judged_api, job_id)["scale"] == 1.0 for job_id in jobs)
    again = judged_api.post(f"/v1/rollouts/{created['rollout_id']}/promote")
    problem(again, 409, "reverted")


def test_finished_and_silent_jobs_are_left_out_and_named(judged_api: TestClient) -> None:
    jobs = _fleet(judged_api, 6, rate=0.1, seed=7)
    _train(judged_api, jobs, 2)
    created = _create(judged_api, {"override": 0.1})
    finished = created["control"][0]
    judged_api.patch(f"/v1/jobs/{finished}", json={"status": "completed"})
    del jobs[finished]
    _train(judged_api, jobs, 3)
    rollout = _settled(judged_api, created["rollout_id"])
    figures = {figure["job_id"]: figure for figure in rollout["verdict"]["jobs"]}
    assert figures[finished]["left_out"] == "finished before epoch 4"
    assert figures[finished]["relative_change"] is None
    assert all(figures[job_id]["left_out"] is None for job_id in jobs)


def test_the_canary_is_reproducible_from_its_seed(unjudged_api: TestClient) -> None:
    _fleet(unjudged_api, 9, rate=0.1, seed=8)
    first = _create(unjudged_api, {"paused": True}, seed="s1", canary=0.3)
    unjudged_api.post(f"/v1/rollouts/{first['rollout_id']}/revert")
    second = _create(unjudged_api, {"paused": True}, seed="s1", canary=0.3)
    assert first["canary"] == second["canary"] and len(first["canary"]) == 3  # ceil(0.3 * 9)
    assert unjudged_api.post(f"/v1/rollouts/{second['rollout_id']}/abort").json()["state"] == (
        "aborted"
    )
    listed = unjudged_api.get("/v1/rollouts").json()["items"]
    assert {item["rollout_id"]: item["state"] for item in listed} == {
        first["rollout_id"]: "reverted",
        second["rollout_id"]: "aborted",
    }
    # Aborted: the canary keeps the change, the control never got it.
    assert all(_job(unjudged_api, job_id)["paused"] for job_id in second["canary"])
    assert not any(_job(unjudged_api, job_id)["paused"] for job_id in second["control"])


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"selector": "fleet=nothing"}, "body.selector"),
        ({"canary": 1.0}, "body.canary"),
        ({"canary": 0}, "body.canary"),
        ({"canary": -0.5}, "body.canary"),
        ({"canary": {"count": 3}}, "body.canary"),
        ({"change": {"learning_rate": 0.1}}, "body.change.learning_rate"),
        ({"change": {}}, "body.change"),
        ({"selector": "fleet in ("}, "body.selector"),
        ({"analysis": {**ANALYSIS, "mode": "best"}}, "body.analysis.mode"),
        ({"analysis": {**ANALYSIS, "epochs": 0}}, "body.analysis.epochs"),
    ],
)
def test_bad_rollouts_are_422_naming_the_field(
    unjudged_api: TestClient, fields: dict[str, Any], loc: str
) -> None:
    _fleet(unjudged_api, 3, rate=0.1, seed=9)
    body = {"selector": "fleet=sim", "change": {"scale": 0.5}, "canary": 0.5, "analysis": ANALYSIS}
    response = unjudged_api.post("/v1/rollouts", json=body | fields)
    answer = problem(response, 422)
    assert any(error["loc"].startswith(loc) for error in answer["errors"]), answer
    assert unjudged_api.get("/v1/rollouts").json()["items"] == []


def test_unknown_rollouts_are_404(unjudged_api: TestClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    problem(unjudged_api.get(f"/v1/rollouts/{missing}"), 404, missing)
    problem(unjudged_api.post(f"/v1/rollouts/{missing}/promote"), 404, missing)


def test_a_rollout_survives_a_restart_and_streams_its_states(db_url: str) -> None:
    with app_client(db_url, rollout_judge=False) as client:
        jobs = _fleet(client, 6, rate=0.1, seed=12)
        _train(client, jobs, 2)
        created = _create(client, {"scale": 0.01})
        _train(client, jobs, 3)
        # No judge ran: the verdict is due, and nothing but the database remembers it.
        assert client.get(f"/v1/rollouts/{created['rollout_id']}").json()["state"] == "analyzing"
    with app_client(db_url, rollout_judge_interval=JUDGE_INTERVAL) as client:
        rollout = _settled(client, created["rollout_id"])
        assert rollout["state"] == "reverted"
        engine = client.app.state.context.engine  # type: ignore[attr-defined]
        items = stream_service.next_events(engine, 0, parse_selector(""), None, 1000)
        states = [item.rollout.state for item in items if item.rollout is not None]
        assert states == ["analyzing", "failed", "reverted"]
        assert [item.seq for item in items] == sorted(item.seq for item in items)
        # A stream of some jobs (a selector) or of one job carries no rollout events.
        some = stream_service.next_events(engine, 0, parse_selector("fleet=sim"), None, 1000)
        assert some and all(item.rollout is None for item in some)


def test_a_revert_restores_a_switched_schedule_and_its_engine_state(
    unjudged_api: TestClient,
) -> None:
    plateau = {
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "factor": 0.5,
        "patience": 1,
        "initial_learning_rate": 0.1,
    }
    for index in range(4):
        create_job(unjudged_api, f"p-{index}", spec=plateau, labels={"fleet": "sim"})
        for epoch, loss in enumerate((1.0, 1.0, 1.0, 1.0)):
            decide(unjudged_api, f"p-{index}", epoch, {} if epoch == 0 else {"val_loss": loss})
    before = {f"p-{index}": _job(unjudged_api, f"p-{index}") for index in range(4)}
    assert all(job["state"] is not None for job in before.values())
    created = _create(
        unjudged_api, {"spec": {"type": "constant", "learning_rate": 0.01}, "clock": "restart"}
    )
    for job_id in created["canary"]:
        changed = _job(unjudged_api, job_id)
        assert changed["spec"]["type"] == "constant" and changed["state"] is None
    reverted = unjudged_api.post(f"/v1/rollouts/{created['rollout_id']}/revert")
    assert reverted.status_code == 200, reverted.text
    for job_id, job in before.items():
        after = _job(unjudged_api, job_id)
        for field in ("spec", "schedule", "state", "clock_origin", "learning_rate", "last_epoch"):
            assert after[field] == job[field], (job_id, field)
    # The next decision continues the plateau where it was: as for a job never in the canary
    # (every job reported the same losses).
    control = decide(unjudged_api, created["control"][0], 4, {"val_loss": 1.0})
    for job_id in created["canary"]:
        answer = decide(unjudged_api, job_id, 4, {"val_loss": 1.0})
        assert (answer["learning_rate"], answer["reason"]) == (
            control["learning_rate"],
            control["reason"],
        )
