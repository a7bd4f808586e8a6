"""A few bad requests per endpoint: each a 4xx problem naming the field; state stays as it was.

The large table of hostile requests against a real server is tests/service/system.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.helpers import DROP, PLATEAU, create_job, decide, problem, put_schedule

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def decided(api: TestClient) -> TestClient:
    """A job `j` with three decided epochs."""
    create_job(api, "j", spec=PLATEAU)
    for epoch in range(3):
        decide(api, "j", epoch, {"val_loss": 1.0 - epoch / 10})
    return api


def job_state(client: TestClient) -> dict[str, Any]:
    job: dict[str, Any] = client.get("/v1/jobs/j").json()
    history = client.get("/v1/jobs/j/epochs").json()["items"]
    return {"job": job, "history": history}


@pytest.mark.parametrize(
    ("path", "body", "status", "loc"),
    [
        ("/v1/jobs/j/epochs/3", b'{"metrics": {"val_loss": NaN}}', 422, "body.metrics.val_loss"),
        (
            "/v1/jobs/j/epochs/3",
            b'{"metrics": {"val_loss": Infinity}}',
            422,
            "body.metrics.val_loss",
        ),
        (
            "/v1/jobs/j/epochs/3",
            b'{"metrics": {"val loss": 1}}',
            422,
            "body.metrics.val loss.[key]",
        ),
        ("/v1/jobs/j/epochs/3", b'{"metrics": {"val_loss": "low"}}', 422, "body.metrics.val_loss"),
        (
            "/v1/jobs/j/epochs/3",
            b'{"metrics": {}, "steps_per_epoch": 0}',
            422,
            "body.steps_per_epoch",
        ),
        ("/v1/jobs/j/epochs/3", b'{"metric": {}}', 422, "body.metric"),
        ("/v1/jobs/j/epochs/3", b"[1, 2]", 422, "body"),
        ("/v1/jobs/j/epochs/-1", b"{}", 422, "path.epoch"),
        ("/v1/jobs/j/epochs/10000001", b"{}", 422, "path.epoch"),
        ("/v1/jobs/j/epochs/1e3", b"{}", 422, "path.epoch"),
        ("/v1/jobs/" + "j" * 254 + "/epochs/0", b"{}", 422, "path.job_id"),
        ("/v1/jobs/-j/epochs/0", b"{}", 422, "path.job_id"),
    ],
)
def test_bad_decision_requests_name_the_field(
    decided: TestClient, path: str, body: bytes, status: int, loc: str
) -> None:
    before = job_state(decided)
    answer = problem(decided.post(path, content=body, headers=JSON), status)
    assert loc in [error["loc"] for error in answer["errors"]]
    assert job_state(decided) == before


def test_too_many_metrics(decided: TestClient) -> None:
    metrics = {f"m{i}": 1.0 for i in range(257)}
    answer = problem(decided.post("/v1/jobs/j/epochs/3", json={"metrics": metrics}), 422)
    assert answer["errors"][0]["loc"] == "body.metrics"


def test_unparsable_and_oversized_bodies(decided: TestClient) -> None:
    before = job_state(decided)
    problem(decided.post("/v1/jobs/j/epochs/3", content=b'{"metrics": ', headers=JSON), 400, "JSON")
    nested = b'{"metrics": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    problem(decided.post("/v1/jobs/j/epochs/3", content=nested, headers=JSON), 400, "nests")
    wrong_type = decided.post(
        "/v1/jobs/j/epochs/3", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    problem(wrong_type, 400, "Content-Type")
    big = b'{"metrics": {}, "pad": "' + b"x" * 300_000 + b'"}'
    problem(decided.post("/v1/jobs/j/epochs/3", content=big, headers=JSON), 413, "larger")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"metrics": {}, "pad": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    problem(decided.post("/v1/jobs/j/epochs/3", content=chunked(), headers=JSON), 413, "larger")
    assert job_state(decided) == before
    assert decided.get("/healthz").status_code == 200


def test_unknown_things_are_404(api: TestClient) -> None:
    problem(api.post("/v1/jobs/ghost/epochs/0", json={}), 404, "ghost")
    problem(api.get("/v1/jobs/ghost"), 404, "ghost")
    problem(api.patch("/v1/jobs/ghost", json={"scale": 2}), 404, "ghost")
    problem(api.get("/v1/jobs/ghost/events"), 404, "ghost")
    problem(api.get("/v1/jobs/ghost/epochs"), 404, "ghost")
    problem(api.delete("/v1/jobs/ghost"), 404, "ghost")
    problem(api.put("/v1/jobs/x", json={"schedule": "ghost"}), 404, "body.schedule")
    put_schedule(api, "drop", DROP)
    problem(api.put("/v1/jobs/x", json={"schedule": "drop@2"}), 404, "version 2")
    problem(api.get("/v1/nothing-here"), 404, "nothing-here")
    problem(api.post("/v1/jobs/x"), 405, "POST")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"spec": DROP, "schedule": "drop"}, "body.spec"),
        ({}, "body.schedule"),
        ({"spec": DROP, "follow": "latest"}, "body.follow"),
        ({"spec": DROP, "scale": 0}, "body.scale"),
        ({"spec": DROP, "labels": {"bad key": "v"}}, "body.labels.bad key.[key]"),
        ({"spec": DROP, "labels": {f"k{i}": "v" for i in range(33)}}, "body.labels"),
        ({"spec": DROP, "labels": {"k": "v" * 257}}, "body.labels.k"),
        ({"schedule": "bad/name"}, "body.schedule"),
    ],
)
def test_bad_job_creations_name_the_field(api: TestClient, body: dict[str, Any], loc: str) -> None:
    answer = problem(api.put("/v1/jobs/new", json=body), 422)
    assert loc in [error["loc"] for error in answer["errors"]]
    problem(api.get("/v1/jobs/new"), 404, "new")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"override": -0.1}', "body.override"),
        (b'{"scale": Infinity}', "body.scale"),
        (b'{"status": "finished"}', "body.status"),
        (b'{"clock": "backwards"}', "body.clock"),
        (b'{"follow": "latest"}', "body.follow"),
    ],
)
def test_bad_patches_name_the_field(decided: TestClient, body: bytes, loc: str) -> None:
    before = job_state(decided)
    answer = problem(decided.patch("/v1/jobs/j", content=body, headers=JSON), 422)
    assert loc in [error["loc"] for error in answer["errors"]]
    assert job_state(decided) == before


def test_a_step_schedule_without_steps_per_epoch_is_an_evaluation_error(api: TestClient) -> None:
    create_job(api, "steps", spec={**DROP, "unit": "step"})
    answer = problem(api.post("/v1/jobs/steps/epochs/0", json={"metrics": {}}), 422)
    assert answer["type"].endswith("/evaluation-error")
    assert api.get("/v1/jobs/steps").json()["last_epoch"] is None


def test_an_expression_that_goes_negative_is_an_evaluation_error(api: TestClient) -> None:
    sinking = {"type": "expression", "initial_learning_rate": 0.1,
               "expression": "initial_learning_rate - 0.05 * epoch"}  # fmt: skip
    create_job(api, "sinking", spec=sinking)
    for epoch in range(3):
        decide(api, "sinking", epoch, {})
    before = api.get("/v1/jobs/sinking").json()
    answer = problem(api.post("/v1/jobs/sinking/epochs/3", json={"metrics": {}}), 422, "epoch 3")
    assert answer["type"].endswith("/evaluation-error")
    assert api.get("/v1/jobs/sinking").json() == before
    previewed = api.post("/v1/preview", json={"spec": sinking, "epochs": 5})
    assert problem(previewed, 422)["type"].endswith("/evaluation-error")


@pytest.mark.parametrize("label", ["team", "=vision", 'a"b=c'])
def test_bad_label_filters_name_the_parameter(api: TestClient, label: str) -> None:
    answer = problem(api.get("/v1/jobs", params={"label": label}), 422, "key=value")
    assert answer["errors"][0]["loc"] == "query.label"


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 1001}, "query.limit"),
        ({"cursor": "%%"}, "query.cursor"),
    ],
)
def test_bad_paging_names_the_parameter(
    decided: TestClient, params: dict[str, Any], loc: str
) -> None:
    for path in ("/v1/jobs", "/v1/jobs/j/epochs", "/v1/jobs/j/events", "/v1/schedules"):
        answer = problem(decided.get(path, params=params), 422)
        assert answer["errors"][0]["loc"] == loc, path
