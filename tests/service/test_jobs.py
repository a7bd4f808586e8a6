"""Jobs: idempotent creation, mid-run changes (PATCH), follow-latest, ETags, audit events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lrhub.schedules import parse_spec, preview
from tests.service.helpers import (
    DROP,
    LINEAR,
    PLATEAU,
    create_job,
    decide,
    observed,
    problem,
    put_schedule,
)


def rate_at(spec: dict[str, Any], t: int) -> float:
    """The rate of a metric-free schedule at its own t, from the engine alone."""
    return preview(parse_spec(spec), t + 1).learning_rates[t]


def patch(client: TestClient, job_id: str, **body: Any) -> dict[str, Any]:
    response = client.patch(f"/v1/jobs/{job_id}", json=body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def test_put_creates_once_and_then_answers_the_job_unchanged(api_on: TestClient) -> None:
    put_schedule(api_on, "drop", DROP)
    created = api_on.put("/v1/jobs/pod-1", json={"schedule": "drop", "labels": {"team": "a"}})
    assert created.status_code == 201
    assert created.json()["token"].startswith("lrj_")
    decide(api_on, "pod-1", 0, {})

    restarted = api_on.put("/v1/jobs/pod-1", json={"spec": PLATEAU, "scale": 3.0})
    assert restarted.status_code == 200
    job = restarted.json()
    assert "token" not in job
    assert job["spec"] == created.json()["spec"]
    assert (job["scale"], job["last_epoch"], job["labels"]) == (1.0, 0, {"team": "a"})
    assert restarted.headers["ETag"] == '"pod-1#0"'


def test_follow_defaults_to_latest_for_a_name_and_pinned_otherwise(api_on: TestClient) -> None:
    put_schedule(api_on, "drop", DROP)
    by_name = create_job(api_on, "a", schedule="drop")
    by_version = create_job(api_on, "b", schedule="drop@1")
    inline = create_job(api_on, "c", spec=DROP)
    assert by_name["schedule"] == {"name": "drop", "version": 1, "follow": "latest"}
    assert by_version["schedule"] == {"name": "drop", "version": 1, "follow": "pinned"}
    assert inline["schedule"] == {"name": None, "version": None, "follow": "pinned"}
    assert inline["spec"]["offset"] == 0.0  # the stored spec has every default filled in


def test_a_new_version_reaches_followers_at_their_next_epoch_not_pinned_jobs(
    api_on: TestClient,
) -> None:
    put_schedule(api_on, "drop", DROP)
    create_job(api_on, "follower", schedule="drop")
    create_job(api_on, "pinned", schedule="drop", follow="pinned")
    for epoch in range(3):
        decide(api_on, "follower", epoch, {})
        decide(api_on, "pinned", epoch, {})
    faster = {**DROP, "drop": 0.1}
    assert put_schedule(api_on, "drop", faster).json()["version"] == 2

    follower = decide(api_on, "follower", 3, {})
    pinned = decide(api_on, "pinned", 3, {})
    assert follower["schedule"] == {"name": "drop", "version": 2}
    assert follower["learning_rate"] == rate_at(faster, 3)
    assert pinned["schedule"] == {"name": "drop", "version": 1}
    assert pinned["learning_rate"] == rate_at(DROP, 3)
    events = api_on.get("/v1/jobs/follower/events").json()["items"]
    assert events[-1]["after"]["schedule"]["version"] == 2


@pytest.mark.parametrize(("clock", "t_at_epoch_5"), [("continue", 5), ("restart", 0)])
def test_switching_schedule_mid_run_with_each_clock(
    api_on: TestClient, clock: str, t_at_epoch_5: int
) -> None:
    create_job(api_on, "switch", spec=DROP)
    for epoch in range(5):
        decide(api_on, "switch", epoch, {})
    job = patch(api_on, "switch", spec=LINEAR, clock=clock)
    assert job["clock_origin"] == 5 - t_at_epoch_5
    assert decide(api_on, "switch", 5, {})["learning_rate"] == rate_at(LINEAR, t_at_epoch_5)
    assert decide(api_on, "switch", 6, {})["learning_rate"] == rate_at(LINEAR, t_at_epoch_5 + 1)


def test_switching_to_a_named_schedule_starts_fresh_state(api_on: TestClient) -> None:
    put_schedule(api_on, "plateau", PLATEAU)
    create_job(api_on, "to-plateau", spec=DROP)
    decide(api_on, "to-plateau", 0, {})
    job = patch(api_on, "to-plateau", schedule="plateau@1")
    assert job["schedule"] == {"name": "plateau", "version": 1, "follow": "pinned"}
    assert job["state"] is None
    answer = decide(api_on, "to-plateau", 1, observed(1))
    assert answer["learning_rate"] == PLATEAU["initial_learning_rate"]


def test_scale_override_and_pause(api_on: TestClient) -> None:
    create_job(api_on, "knobs", spec=DROP)
    decide(api_on, "knobs", 0, {})
    patch(api_on, "knobs", scale=0.5)
    assert decide(api_on, "knobs", 1, {})["learning_rate"] == rate_at(DROP, 1) * 0.5

    patch(api_on, "knobs", override=0.003)
    fixed = decide(api_on, "knobs", 2, {}, steps_per_epoch=3)
    assert fixed["learning_rate"] == 0.003
    assert fixed["step_learning_rates"] == [0.003] * 3
    patch(api_on, "knobs", override=None)
    assert decide(api_on, "knobs", 3, {})["learning_rate"] == rate_at(DROP, 3) * 0.5

    held = api_on.get("/v1/jobs/knobs").json()["learning_rate"]
    patch(api_on, "knobs", paused=True)
    assert [decide(api_on, "knobs", e, {})["learning_rate"] for e in (4, 5, 6)] == [held] * 3
    patch(api_on, "knobs", paused=False)
    assert decide(api_on, "knobs", 7, {})["learning_rate"] == rate_at(DROP, 7) * 0.5


def test_stop_makes_the_next_answer_stop_and_is_final(api_on: TestClient) -> None:
    create_job(api_on, "stopping", spec=DROP)
    assert not decide(api_on, "stopping", 0, {})["stop"]
    job = patch(api_on, "stopping", status="stopped")
    assert job["status"] == "stopped"
    assert decide(api_on, "stopping", 1, {})["stop"]

    refused = api_on.patch("/v1/jobs/stopping", json={"scale": 2.0})
    problem(refused, 409, "stopped")
    assert patch(api_on, "stopping", labels={"done": "yes"})["labels"] == {"done": "yes"}


def test_if_match_guards_job_changes(api_on: TestClient) -> None:
    create_job(api_on, "etag", spec=DROP)
    etag = api_on.get("/v1/jobs/etag").headers["ETag"]
    changed = api_on.patch("/v1/jobs/etag", json={"scale": 2.0}, headers={"If-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag

    stale = api_on.patch("/v1/jobs/etag", json={"scale": 3.0}, headers={"If-Match": etag})
    problem(stale, 412, "If-Match")
    assert api_on.get("/v1/jobs/etag").json()["scale"] == 2.0


def test_every_change_is_an_audit_event(api_on: TestClient) -> None:
    create_job(api_on, "audited", spec=DROP)
    patch(api_on, "audited", scale=0.5)
    patch(api_on, "audited", status="stopped")
    events = api_on.get("/v1/jobs/audited/events").json()["items"]
    assert [e["action"] for e in events] == ["create", "update", "stop"]
    assert all(e["actor"] == "anonymous" and e["at"].endswith("Z") for e in events)
    assert events[0]["before"] is None
    assert (events[1]["before"]["scale"], events[1]["after"]["scale"]) == (1.0, 0.5)
    assert (events[2]["before"]["status"], events[2]["after"]["status"]) == ("running", "stopped")


def test_list_filters_by_label_and_status_and_pages(api_on: TestClient) -> None:
    create_job(api_on, "v1", spec=DROP, labels={"team": "vision", "app.kubernetes.io/name": "x"})
    create_job(api_on, "v2", spec=DROP, labels={"team": "vision"})
    create_job(api_on, "n1", spec=DROP, labels={"team": "nlp"})
    patch(api_on, "v2", status="stopped")

    def ids(**params: Any) -> list[str]:
        response = api_on.get("/v1/jobs", params=params)
        assert response.status_code == 200, response.text
        return [job["job_id"] for job in response.json()["items"]]

    assert ids(label="team=vision") == ["v1", "v2"]
    assert ids(label=["team=vision", "app.kubernetes.io/name=x"]) == ["v1"]
    assert ids(status="stopped") == ["v2"]
    first = api_on.get("/v1/jobs", params={"limit": 2}).json()
    second = api_on.get("/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["job_id"] for j in first["items"] + second["items"]] == ["n1", "v1", "v2"]
    assert second["next_cursor"] is None
