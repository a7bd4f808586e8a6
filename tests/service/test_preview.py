"""POST /v1/preview: the engine's preview over HTTP, storing nothing, with bounded sizes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lrhub.schedules import parse_spec, preview
from tests.service.helpers import DROP, PLATEAU, problem, put_schedule


def test_preview_of_an_inline_spec_with_steps_and_metrics(api: TestClient) -> None:
    metrics = [{"val_loss": loss} for loss in (1.0, 1.1, 1.2, 0.5)]
    response = api.post(
        "/v1/preview", json={"spec": PLATEAU, "epochs": 5, "steps_per_epoch": 2, "metrics": metrics}
    )
    assert response.status_code == 200, response.text
    expected = preview(parse_spec(PLATEAU), 5, steps_per_epoch=2, metrics=metrics)
    body = response.json()
    assert body["learning_rates"] == expected.learning_rates
    assert body["step_learning_rates"] == expected.step_learning_rates
    assert body["reasons"] == expected.reasons
    assert api.get("/v1/jobs").json()["items"] == []


def test_preview_of_a_stored_version(api: TestClient) -> None:
    put_schedule(api, "drop", DROP)
    put_schedule(api, "drop", {**DROP, "drop": 0.1})
    body = api.post("/v1/preview", json={"schedule": "drop@1", "epochs": 6}).json()
    assert body["learning_rates"] == preview(parse_spec(DROP), 6).learning_rates
    assert body["step_learning_rates"] is None
    problem(api.post("/v1/preview", json={"schedule": "drop@7", "epochs": 3}), 404, "version")


def test_preview_refuses_bad_sizes_and_ambiguous_input(api: TestClient) -> None:
    huge = {"spec": DROP, "epochs": 10_000, "steps_per_epoch": 101}
    assert problem(api.post("/v1/preview", json=huge), 422, "steps_per_epoch")["errors"]
    problem(api.post("/v1/preview", json={"spec": DROP, "epochs": 10_001}), 422, "epochs")
    problem(api.post("/v1/preview", json={"spec": DROP, "epochs": 0}), 422, "epochs")
    both = {"spec": DROP, "schedule": "drop", "epochs": 3}
    problem(api.post("/v1/preview", json=both), 422, "exactly one")
    problem(api.post("/v1/preview", json={"epochs": 3}), 422, "exactly one")
    too_many = {"spec": PLATEAU, "epochs": 2, "metrics": [{}, {}, {}]}
    problem(api.post("/v1/preview", json=too_many), 422, "metrics")
