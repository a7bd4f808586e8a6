"""Named schedules: immutable versions, reads, lists, ETags, deletion."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lrhub.schedules import parse_spec, spec_to_json
from tests.service.helpers import DROP, LINEAR, create_job, problem, put_schedule


def test_put_creates_then_versions_only_on_a_changed_spec(api_on: TestClient) -> None:
    created = api_on.put("/v1/schedules/drop", json={"spec": DROP, "description": "halve"})
    assert created.status_code == 201
    assert created.headers["ETag"] == '"drop@1"'
    body = created.json()
    assert (body["version"], body["versions"], body["description"]) == (1, 1, "halve")
    assert body["spec"] == spec_to_json(parse_spec(DROP))

    # The same spec with its defaults spelled out is the same spec: no new version.
    same = api_on.put("/v1/schedules/drop", json={"spec": spec_to_json(parse_spec(DROP))})
    assert (same.status_code, same.json()["version"]) == (200, 1)

    changed = put_schedule(api_on, "drop", {**DROP, "drop": 0.25})
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    assert changed.headers["ETag"] == '"drop@2"'


def test_reads_and_lists(api_on: TestClient) -> None:
    put_schedule(api_on, "drop", DROP)
    put_schedule(api_on, "drop", {**DROP, "drop": 0.25})
    put_schedule(api_on, "ramp", LINEAR)

    assert api_on.get("/v1/schedules/drop").json()["version"] == 2
    first = api_on.get("/v1/schedules/drop", params={"version": 1})
    assert first.json()["spec"]["drop"] == DROP["drop"]
    assert first.headers["ETag"] == '"drop@1"'
    versions = api_on.get("/v1/schedules/drop/versions").json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    page = api_on.get("/v1/schedules", params={"limit": 1}).json()
    rest = api_on.get("/v1/schedules", params={"cursor": page["next_cursor"]}).json()
    assert [s["name"] for s in page["items"] + rest["items"]] == ["drop", "ramp"]
    assert [s["version"] for s in page["items"] + rest["items"]] == [2, 1]

    problem(api_on.get("/v1/schedules/nope"), 404, "nope")
    problem(api_on.get("/v1/schedules/drop", params={"version": 9}), 404, "version")
    problem(api_on.get("/v1/schedules/nope/versions"), 404, "nope")


def test_if_match_guards_updates_and_deletes(api_on: TestClient) -> None:
    put_schedule(api_on, "drop", DROP)
    put_schedule(api_on, "drop", {**DROP, "drop": 0.25}, **{"If-Match": '"drop@1"'})
    stale = api_on.put("/v1/schedules/drop", json={"spec": DROP}, headers={"If-Match": '"drop@1"'})
    problem(stale, 412, "If-Match")
    problem(api_on.delete("/v1/schedules/drop", headers={"If-Match": '"drop@1"'}), 412, "ETag")
    assert api_on.get("/v1/schedules/drop").json()["versions"] == 2


def test_delete_refuses_while_a_running_job_uses_the_schedule(api_on: TestClient) -> None:
    put_schedule(api_on, "drop", DROP)
    create_job(api_on, "user", schedule="drop")
    problem(api_on.delete("/v1/schedules/drop"), 409, "user", "job")

    api_on.patch("/v1/jobs/user", json={"status": "stopped"})
    assert api_on.delete("/v1/schedules/drop").status_code == 204
    problem(api_on.get("/v1/schedules/drop"), 404, "drop")
    assert api_on.get("/v1/jobs/user").json()["spec"]["drop"] == DROP["drop"]


def test_invalid_specs_name_the_field(api: TestClient) -> None:
    bad_decay = {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 0,
                 "decay_rate": 0.5}  # fmt: skip
    body = problem(api.put("/v1/schedules/x", json={"spec": bad_decay}), 422, "decay_steps")
    assert body["errors"][0]["loc"] == "body.spec.decay_steps"
    unknown = problem(api.put("/v1/schedules/x", json={"spec": {"type": "nope"}}), 422, "type")
    assert unknown["errors"][0]["loc"] == "body.spec.type"
    problem(api.put("/v1/schedules/bad@name", json={"spec": DROP}), 422, "path.name")
    extra = api.put("/v1/schedules/x", json={"spec": DROP, "colour": "red"})
    assert problem(extra, 422, "colour")["errors"][0]["loc"] == "body.colour"
