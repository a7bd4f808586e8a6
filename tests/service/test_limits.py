"""Every request's work is bounded by a setting, and a request over a bound is refused before any
work with a 422 naming the bound and the setting that raises it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from lrhub.schedules import evaluation_cost, parse_spec
from tests.service.conftest import app_client, migrated
from tests.service.helpers import HEAVY_FORMULA

COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 1000, "unit": "step"}


def refusal(response: Any, field: str, setting: str) -> str:
    """The detail of a 422 about `field` that names `setting`."""
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [error["loc"] for error in problem["errors"]] == [f"body.{field}"]
    assert setting in problem["detail"], problem["detail"]
    return str(problem["detail"])


def test_steps_per_epoch_over_its_setting_is_refused_and_the_setting_raises_it(
    sqlite_url: str,
) -> None:
    with app_client(migrated(sqlite_url), max_steps_per_epoch=50) as api:
        assert api.put("/v1/jobs/j", json={"spec": COSINE}).status_code == 201
        over = api.post("/v1/jobs/j/epochs/0", json={"metrics": {}, "steps_per_epoch": 51})
        assert "50" in refusal(over, "steps_per_epoch", "LRHUB_MAX_STEPS_PER_EPOCH")
        # Nothing was decided: the refused request left no trace in the history.
        assert api.get("/v1/jobs/j/epochs").json()["items"] == []
        within = api.post(
            "/v1/jobs/j/epochs/0", json={"metrics": {}, "steps_per_epoch": 50, "step_lists": True}
        )
        assert within.status_code == 200
        assert len(within.json()["step_learning_rates"]) == 50


def test_a_costly_formula_is_bounded_by_the_evaluation_budget(sqlite_url: str) -> None:
    per_rate = evaluation_cost(parse_spec(HEAVY_FORMULA))
    budget = per_rate * 1000
    with app_client(migrated(sqlite_url), max_evaluation_cost=budget) as api:
        assert api.put("/v1/jobs/heavy", json={"spec": HEAVY_FORMULA}).status_code == 201
        over = api.post("/v1/jobs/heavy/epochs/0", json={"metrics": {}, "steps_per_epoch": 1001})
        detail = refusal(over, "steps_per_epoch", "LRHUB_MAX_EVALUATION_COST")
        assert f"{budget:,}" in detail
        within = api.post("/v1/jobs/heavy/epochs/0", json={"metrics": {}, "steps_per_epoch": 1000})
        assert within.status_code == 200, within.text

        preview = {"spec": HEAVY_FORMULA, "epochs": 11, "steps_per_epoch": 100}
        refusal(api.post("/v1/preview", json=preview), "epochs", "LRHUB_MAX_EVALUATION_COST")
        preview["epochs"] = 10
        assert api.post("/v1/preview", json=preview).status_code == 200


def test_preview_step_rates_over_their_setting_are_refused(api: TestClient) -> None:
    body = {"spec": COSINE, "epochs": 10_000, "steps_per_epoch": 101}
    detail = refusal(
        api.post("/v1/preview", json=body), "steps_per_epoch", "LRHUB_MAX_PREVIEW_STEPS"
    )
    assert "1,010,000 step rates" in detail
