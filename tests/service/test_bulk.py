"""Bulk changes (`PATCH /v1/jobs?selector=`): dry runs, change ids, bounds, per-job refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import app_client
from tests.service.helpers import DROP, create_job, problem, put_schedule


@pytest.fixture
def small_bulk_api(db_url: str) -> Iterator[TestClient]:
    """The app with LRHUB_BULK_MAX=3, on each database."""
    with app_client(db_url, bulk_max=3) as client:
        yield client


def _fleet(client: TestClient) -> None:
    for job_id, team in (("a", "vision"), ("b", "vision"), ("c", "nlp"), ("d", "vision")):
        create_job(client, job_id, spec=DROP, labels={"team": team})


def _bulk(client: TestClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = client.patch("/v1/jobs", params=params, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get(f"/v1/jobs/{job_id}/events").json()["items"]
    return items


def test_a_dry_run_answers_exact_before_and_after_and_changes_nothing(api_on: TestClient) -> None:
    _fleet(api_on)
    jobs_before = {job_id: api_on.get(f"/v1/jobs/{job_id}").json() for job_id in "abcd"}
    answer = _bulk(api_on, {"scale": 0.5}, selector="team=vision", dry_run="true")
    assert (answer["matched"], answer["change_id"], answer["dry_run"]) == (3, None, True)
    assert [job["job_id"] for job in answer["jobs"]] == ["a", "b", "d"]
    for job in answer["jobs"]:
        assert job["outcome"] == "changed"
        assert job["before"] == _events(api_on, job["job_id"])[0]["after"]  # the created config
        assert job["after"] == {**job["before"], "scale": 0.5}
    for job_id, before in jobs_before.items():
        assert api_on.get(f"/v1/jobs/{job_id}").json() == before
        assert len(_events(api_on, job_id)) == 1


def test_a_bulk_change_changes_every_match_with_one_change_id(api_on: TestClient) -> None:
    _fleet(api_on)
    answer = _bulk(api_on, {"scale": 0.5, "paused": True}, selector="team=vision")
    change_id = answer["change_id"]
    assert answer["matched"] == 3 and change_id
    for job in answer["jobs"]:
        assert job["outcome"] == "changed"
        events = _events(api_on, job["job_id"])
        assert events[-1]["change_id"] == change_id
        assert (events[-1]["before"], events[-1]["after"]) == (job["before"], job["after"])
        state = api_on.get(f"/v1/jobs/{job['job_id']}").json()
        assert (state["scale"], state["paused"]) == (0.5, True)
    assert api_on.get("/v1/jobs/c").json()["scale"] == 1.0
    assert [event["change_id"] for event in _events(api_on, "c")] == [None]
    again = _bulk(api_on, {"scale": 0.5, "paused": True}, selector="team=vision")
    assert {job["outcome"] for job in again["jobs"]} == {"unchanged"}


def test_the_single_job_rule_refuses_a_stopped_job_without_stopping_the_others(
    api_on: TestClient,
) -> None:
    _fleet(api_on)
    assert api_on.patch("/v1/jobs/b", json={"status": "stopped"}).status_code == 200
    answer = _bulk(api_on, {"override": 0.001}, selector="team=vision")
    outcomes = {job["job_id"]: (job["outcome"], job["detail"]) for job in answer["jobs"]}
    assert outcomes["a"] == outcomes["d"] == ("changed", None)
    assert outcomes["b"][0] == "refused" and "stopped" in outcomes["b"][1]
    assert api_on.get("/v1/jobs/b").json()["override"] is None
    stop_all = _bulk(api_on, {"status": "stopped"}, selector="team=vision,status=running")
    assert [job["job_id"] for job in stop_all["jobs"]] == ["a", "d"]
    assert [job["after"]["status"] for job in stop_all["jobs"]] == ["stopped", "stopped"]


def test_a_bulk_change_on_picked_job_ids_changes_those_jobs_only(api_on: TestClient) -> None:
    _fleet(api_on)
    answer = _bulk(api_on, {"override": 0.002}, selector="job_id in (a,c)")
    assert sorted(job["job_id"] for job in answer["jobs"]) == ["a", "c"]
    overrides = {job_id: api_on.get(f"/v1/jobs/{job_id}").json()["override"] for job_id in "abcd"}
    assert overrides == {"a": 0.002, "b": None, "c": 0.002, "d": None}


def test_more_matches_than_the_bound_need_a_limit(small_bulk_api: TestClient) -> None:
    client = small_bulk_api
    for index in range(5):
        create_job(client, f"j{index}", spec=DROP, labels={"team": "vision"})
    refused = client.patch("/v1/jobs", params={"selector": "team=vision"}, json={"scale": 2.0})
    problem(refused, 422, "LRHUB_BULK_MAX=3")
    assert all(client.get(f"/v1/jobs/j{i}").json()["scale"] == 1.0 for i in range(5))
    too_big = client.patch(
        "/v1/jobs", params={"selector": "team=vision", "limit": 4}, json={"scale": 2.0}
    )
    assert problem(too_big, 422, "LRHUB_BULK_MAX")["errors"][0]["loc"] == "query.limit"

    first = _bulk(client, {"scale": 2.0}, selector="team=vision", limit=2)
    assert first["matched"] == 5 and [job["job_id"] for job in first["jobs"]] == ["j0", "j1"]
    rest = _bulk(
        client, {"scale": 2.0}, selector="team=vision", limit=3, cursor=first["next_cursor"]
    )
    assert [job["job_id"] for job in rest["jobs"]] == ["j2", "j3", "j4"]
    assert rest["next_cursor"] is None
    assert all(client.get(f"/v1/jobs/j{i}").json()["scale"] == 2.0 for i in range(5))


def test_bad_bulk_requests_are_refused_before_anything_changes(api_on: TestClient) -> None:
    _fleet(api_on)
    problem(api_on.patch("/v1/jobs", json={"scale": 0.5}), 422, "selector")
    problem(api_on.patch("/v1/jobs", params={"selector": ""}, json={"scale": 0.5}), 422, "selector")
    typo = api_on.patch("/v1/jobs", params={"selectr": "team=nlp"}, json={"scale": 0.5})
    problem(typo, 422, "selectr")
    unknown = api_on.patch(
        "/v1/jobs", params={"selector": "team=vision"}, json={"schedule": "nope"}
    )
    problem(unknown, 404, "nope")
    problem(
        api_on.patch("/v1/jobs", params={"selector": "team=vision"}, json={"scale": -1}),
        422,
        "scale",
    )
    assert all(len(_events(api_on, job_id)) == 1 for job_id in "abcd")


def test_a_bulk_switch_to_a_named_schedule(api_on: TestClient) -> None:
    _fleet(api_on)
    put_schedule(api_on, "drop", DROP)
    answer = _bulk(api_on, {"schedule": "drop", "clock": "restart"}, selector="team=nlp")
    assert [job["after"]["schedule"]["name"] for job in answer["jobs"]] == ["drop"]
