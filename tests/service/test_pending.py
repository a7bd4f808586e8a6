"""The pending mark (`pending_epoch` of a job): set by a change to the rate made since the job's
last decision, with the epoch it takes effect at; left alone by labels and status; cleared by
the next decision. Real app, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.helpers import DROP, PLATEAU, create_job, decide, observed, put_schedule

COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.2, "decay_steps": 9}


def patch(client: TestClient, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/v1/jobs/{job_id}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def job(client: TestClient, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
    return answer


def decided(client: TestClient, job_id: str, epochs: int) -> None:
    create_job(client, job_id, spec=PLATEAU, labels={"team": "a"})
    for epoch in range(epochs):
        decide(client, job_id, epoch, observed(epoch))


def test_a_labels_only_change_is_not_pending(api_on: TestClient) -> None:
    decided(api_on, "j", 3)
    before = job(api_on, "j")
    after = patch(api_on, "j", {"labels": {"team": "b"}})
    assert after["updated_at"] > before["updated_at"]  # what the dashboard used to go by
    assert after["pending_epoch"] is None
    assert job(api_on, "j")["pending_epoch"] is None


def test_an_override_is_pending_from_the_next_epoch_until_it_is_decided(
    api_on: TestClient,
) -> None:
    decided(api_on, "j", 5)
    assert patch(api_on, "j", {"override": 0.0025})["pending_epoch"] == 5
    [listed] = api_on.get("/v1/jobs").json()["items"]
    assert listed["pending_epoch"] == 5
    # A later change (labels or rate) keeps the epoch the first one takes effect at.
    assert patch(api_on, "j", {"labels": {"team": "b"}})["pending_epoch"] == 5
    assert patch(api_on, "j", {"scale": 0.5})["pending_epoch"] == 5
    assert decide(api_on, "j", 5, observed(5))["learning_rate"] == 0.0025
    assert job(api_on, "j")["pending_epoch"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"scale": 0.5},
        {"override": 0.01},
        {"paused": True},
        {"cooldown": {"epochs": 4, "shape": "linear", "min_learning_rate": 0.001}},
        {"schedule": "cosine"},
        {"clock": "restart"},
    ],
    ids=["scale", "override", "pause", "cooldown", "switch", "clock"],
)
def test_each_change_to_the_rate_is_pending(api_on: TestClient, body: dict[str, Any]) -> None:
    put_schedule(api_on, "cosine", COSINE)
    decided(api_on, "j", 2)
    assert patch(api_on, "j", body)["pending_epoch"] == 2


def test_a_status_change_is_not_pending(api_on: TestClient) -> None:
    decided(api_on, "j", 2)
    assert patch(api_on, "j", {"status": "stopped"})["pending_epoch"] is None
    assert patch(api_on, "j", {"status": "running"})["pending_epoch"] is None


def test_a_change_before_the_first_decision_takes_effect_at_epoch_0(api_on: TestClient) -> None:
    create_job(api_on, "fresh", spec=DROP)
    assert job(api_on, "fresh")["pending_epoch"] is None  # creating is not a change
    assert patch(api_on, "fresh", {"scale": 2.0})["pending_epoch"] == 0
    decide(api_on, "fresh", 0, None)
    assert job(api_on, "fresh")["pending_epoch"] is None


def test_a_bulk_change_marks_the_jobs_whose_rate_it_changes(api_on: TestClient) -> None:
    decided(api_on, "a", 3)
    decided(api_on, "b", 1)
    response = api_on.patch("/v1/jobs", params={"selector": "team=a"}, json={"override": 0.01})
    assert response.status_code == 200, response.text
    assert job(api_on, "a")["pending_epoch"] == 3
    assert job(api_on, "b")["pending_epoch"] == 1
    decide(api_on, "b", 1, observed(1))
    assert job(api_on, "b")["pending_epoch"] is None
    assert job(api_on, "a")["pending_epoch"] == 3


def test_a_newer_version_of_a_followed_schedule_is_pending(api_on: TestClient) -> None:
    put_schedule(api_on, "cosine", COSINE)
    for job_id, follow in (("follows", "latest"), ("pinned", "pinned")):
        create_job(api_on, job_id, schedule="cosine", follow=follow)
        for epoch in range(2):
            decide(api_on, job_id, epoch, observed(epoch))
    put_schedule(api_on, "cosine", {**COSINE, "initial_learning_rate": 0.4})
    assert job(api_on, "follows")["pending_epoch"] == 2
    items = api_on.get("/v1/jobs").json()["items"]
    listed = {item["job_id"]: item["pending_epoch"] for item in items}
    assert listed == {"follows": 2, "pinned": None}
    assert patch(api_on, "follows", {"labels": {"team": "b"}})["pending_epoch"] == 2
    assert patch(api_on, "pinned", {"labels": {"team": "b"}})["pending_epoch"] is None
    assert decide(api_on, "follows", 2, observed(2))["schedule"]["version"] == 2
    assert job(api_on, "follows")["pending_epoch"] is None
