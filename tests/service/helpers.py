"""Requests the service tests make over and over, and the problem+json check."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

# starlette's TestClient answers httpx2 responses when httpx2 is installed (the test group has it).
from httpx2 import Response
from pydantic import BaseModel

from lrhub.client.models import EpochAnswer
from tests.support.problems import assert_problem

PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "initial_learning_rate": 0.1,
}
DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
LINEAR = {"type": "linear", "start_learning_rate": 0.0, "end_learning_rate": 1.0, "duration": 10}
# val_loss seen at the end of epochs 0, 1, 2, ...: improves, stalls twice, improves, stalls.
# A step-unit formula as long as the expression limits accept (400 parts): each of its rates
# costs hundreds of evaluation steps, the costliest kind of request.
HEAVY_FORMULA = {
    "type": "expression",
    "initial_learning_rate": 0.1,
    "unit": "step",
    "expression": "abs("
    + " + ".join(f"sin(t * {i} + prev_lr) * exp(-0.001 * step)" for i in range(12))
    + ") * 0.001",
}
LOSSES = [1.0, 0.8, 0.85, 0.9, 0.5, 0.6, 0.7, 0.4, 0.45, 0.5]


def put_schedule(client: TestClient, name: str, spec: dict[str, Any], **headers: str) -> Response:
    """PUT a schedule and insist it worked."""
    response: Response = client.put(f"/v1/schedules/{name}", json={"spec": spec}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response


def create_job(client: TestClient, job_id: str, **body: Any) -> dict[str, Any]:
    """PUT a new job and answer its body (with the token)."""
    response = client.put(f"/v1/jobs/{job_id}", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def decide(
    client: TestClient,
    job_id: str,
    epoch: int,
    metrics: dict[str, float] | None,
    steps_per_epoch: int | None = None,
    **headers: str,
) -> dict[str, Any]:
    """POST one epoch's decision and answer it (must succeed). Asked with steps_per_epoch, the
    answer's `steps` are checked to be what its compatibility lists hold, and the answer comes
    back with the lists as a client derives them."""
    response = client.post(
        f"/v1/jobs/{job_id}/epochs/{epoch}",
        json={"metrics": metrics, "steps_per_epoch": steps_per_epoch},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    if answer.get("steps") is None:
        return answer
    assert answer["step_learning_rates"] is None and answer["step_momentums"] is None, answer
    derived = derived_step_lists(answer)
    listed = client.post(
        f"/v1/jobs/{job_id}/epochs/{epoch}",
        json={"metrics": metrics, "steps_per_epoch": steps_per_epoch, "step_lists": True},
        headers=headers,
    ).json()
    assert listed["replayed"] and listed["steps"] == answer["steps"], listed
    assert derived == (listed["step_learning_rates"], listed["step_momentums"])
    return {**answer, "step_learning_rates": derived[0], "step_momentums": derived[1]}


def derived_step_lists(answer: dict[str, Any]) -> tuple[list[float], list[float] | None]:
    """The per-step rates and momentums of a decision answer, computed from its `steps` as
    the client does (`EpochAnswer.with_step_rates`, `lrhub.schedules.interval_steps`)."""
    computed = EpochAnswer.model_validate(answer).with_step_rates()
    assert computed.step_learning_rates is not None
    return computed.step_learning_rates, computed.step_momentums


def observed(epoch: int, losses: list[float] = LOSSES) -> dict[str, float]:
    """The metrics a job reports when asking for `epoch`: those seen at the end of epoch-1."""
    return {} if epoch == 0 else {"val_loss": losses[epoch - 1]}


def problem(response: Response, status: int, *words: str) -> dict[str, Any]:
    """Assert `response` is a problem+json with `status` whose detail names one of `words`."""
    return assert_problem(
        response.status_code,
        response.headers.get("content-type"),
        response.content,
        expected_status=status,
        detail_words=words,
    )


def all_pages(
    client: TestClient, path: str, schema: type[BaseModel], **params: str
) -> list[dict[str, Any]]:
    """Every page of the paged JSON at `path` for `params`, following the cursors, each checked
    against its declared `schema` and given its size in `bytes`."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        page = response.json()
        schema.model_validate(page)  # the declared schema is the body's
        pages.append(page | {"bytes": len(response.content)})
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "the cursors do not move on"
