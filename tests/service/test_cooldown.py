"""Cooldown on demand (`PATCH /v1/jobs/{id}` with `cooldown`): single jobs, bulk, cancel,
refusals, on both databases; the rates against Transformers' own WSD schedule."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.helpers import create_job, decide, problem

torch = pytest.importorskip("torch")
optimization = pytest.importorskip("transformers.optimization")

RATE, WARMUP = 0.02, 3
WARM_CONSTANT = {
    "type": "transformers",
    "scheduler": "constant_with_warmup",
    "learning_rate": RATE,
    "num_warmup_steps": WARMUP,
}


def wsd_rates(
    *, start: int, length: int, shape: str, min_lr_ratio: float, steps: int
) -> list[float]:
    """Transformers' own warmup-stable-decay rates for `steps` steps: the decay starts at
    step `start`, after the same warm-up as the job's schedule (linear, from 0)."""
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=RATE)
    scheduler = optimization.get_wsd_schedule(
        optimizer,
        num_warmup_steps=WARMUP,
        num_stable_steps=start - WARMUP,
        num_decay_steps=length,
        decay_type=shape,
        min_lr_ratio=min_lr_ratio,
    )
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def patch(client: TestClient, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/v1/jobs/{job_id}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def step_rates_of(answers: list[dict[str, Any]]) -> list[float]:
    return [rate for answer in answers for rate in answer["step_learning_rates"]]


@pytest.mark.parametrize(
    ("shape", "start_epoch", "steps_per_epoch", "length"),
    [
        ("1-sqrt", 4, 1, 7),
        ("linear", 2, 4, 10),
        ("cosine", 5, 3, 9),
        ("1-sqrt", 3, 5, 12),
    ],
)
def test_a_cooldown_started_at_any_step_matches_transformers_wsd(
    api_on: TestClient, shape: str, start_epoch: int, steps_per_epoch: int, length: int
) -> None:
    create_job(api_on, "wsd", spec=WARM_CONSTANT)
    low = RATE * 0.1
    answers = [decide(api_on, "wsd", epoch, {}, steps_per_epoch) for epoch in range(start_epoch)]
    changed = patch(
        api_on,
        "wsd",
        {"cooldown": {"steps": length, "shape": shape, "min_learning_rate": low}},
    )
    assert changed["cooldown"]["start"] is None  # starts at the next decision
    epochs = start_epoch + (length // steps_per_epoch) + 3  # past its end: it holds
    answers += [
        decide(api_on, "wsd", epoch, {}, steps_per_epoch) for epoch in range(start_epoch, epochs)
    ]
    start = start_epoch * steps_per_epoch
    expected = wsd_rates(
        start=start, length=length, shape=shape, min_lr_ratio=0.1, steps=epochs * steps_per_epoch
    )
    # From the end of the warm-up (where Transformers' WSD warm-up, which ramps to its floor,
    # differs from the job's schedule) on: stable until the start, then the decay, then held.
    assert step_rates_of(answers)[WARMUP:] == pytest.approx(expected[WARMUP:], rel=1e-12, abs=0)
    firsts = [answer["learning_rate"] for answer in answers][start_epoch:]
    assert firsts == pytest.approx(expected[start::steps_per_epoch], rel=1e-12, abs=0)
    job = api_on.get("/v1/jobs/wsd").json()
    assert job["cooldown"] == {
        "length": length,
        "unit": "step",
        "shape": shape,
        "min_learning_rate": low,
        "start": start,
        "start_rate": RATE,
        "finished": True,
    }
    # The history derives the same per-step rates again from what each epoch was decided with.
    history = api_on.get("/v1/jobs/wsd/epochs", params={"limit": 100}).json()["items"]
    assert step_rates_of(history) == step_rates_of(answers)


def test_a_cooldown_in_epochs_decays_epoch_by_epoch_then_holds(api_on: TestClient) -> None:
    create_job(api_on, "e", spec={"type": "constant", "learning_rate": 0.1})
    decide(api_on, "e", 0, {})
    patch(api_on, "e", {"cooldown": {"epochs": 4, "shape": "linear", "min_learning_rate": 0.02}})
    rates = [decide(api_on, "e", epoch, {})["learning_rate"] for epoch in range(1, 8)]
    assert rates == pytest.approx([0.1, 0.08, 0.06, 0.04, 0.02, 0.02, 0.02], rel=1e-12)
    assert "cooldown (linear)" in decide(api_on, "e", 8, {})["reason"]


def test_cancel_restores_the_schedule_and_a_finished_cooldown_cannot_be_cancelled(
    api_on: TestClient,
) -> None:
    create_job(api_on, "c", spec={"type": "constant", "learning_rate": 0.1})
    decide(api_on, "c", 0, {})
    patch(api_on, "c", {"cooldown": {"epochs": 4, "shape": "linear"}})
    assert decide(api_on, "c", 1, {})["learning_rate"] == pytest.approx(0.1)
    assert decide(api_on, "c", 2, {})["learning_rate"] == pytest.approx(0.075)
    cancelled = patch(api_on, "c", {"cooldown": None})
    assert cancelled["cooldown"] is None
    assert decide(api_on, "c", 3, {})["learning_rate"] == 0.1
    events = api_on.get("/v1/jobs/c/events").json()["items"]
    assert (
        events[-1]["before"]["cooldown"]["start"] == 1 and events[-1]["after"]["cooldown"] is None
    )
    # Cancelling when there is none changes nothing.
    assert patch(api_on, "c", {"cooldown": None})["cooldown"] is None
    assert len(api_on.get("/v1/jobs/c/events").json()["items"]) == len(events)

    patch(api_on, "c", {"cooldown": {"epochs": 1, "shape": "cosine"}})
    assert decide(api_on, "c", 4, {})["learning_rate"] == pytest.approx(0.1)
    assert api_on.get("/v1/jobs/c").json()["cooldown"]["finished"] is True
    refused = api_on.patch("/v1/jobs/c", json={"cooldown": None})
    problem(refused, 409, "finished")
    assert decide(api_on, "c", 5, {})["learning_rate"] == 0.0


def test_a_new_cooldown_midway_continues_from_the_rate_in_force(api_on: TestClient) -> None:
    create_job(api_on, "m", spec={"type": "constant", "learning_rate": 0.1})
    patch(api_on, "m", {"cooldown": {"epochs": 10, "shape": "linear"}})
    rates = [decide(api_on, "m", epoch, {})["learning_rate"] for epoch in range(3)]
    assert rates == pytest.approx([0.1, 0.09, 0.08])
    patch(api_on, "m", {"cooldown": {"epochs": 2, "shape": "linear"}})
    rates = [decide(api_on, "m", epoch, {})["learning_rate"] for epoch in range(3, 6)]
    # From the old cooldown's rate at epoch 3 (0.07), down to 0 over 2 epochs.
    assert rates == pytest.approx([0.07, 0.035, 0.0])


def test_a_new_schedule_drops_the_cooldown(api_on: TestClient) -> None:
    create_job(api_on, "s", spec={"type": "constant", "learning_rate": 0.1})
    patch(api_on, "s", {"cooldown": {"epochs": 5, "shape": "linear"}})
    switched = patch(api_on, "s", {"spec": {"type": "constant", "learning_rate": 0.3}})
    assert switched["cooldown"] is None
    assert decide(api_on, "s", 0, {})["learning_rate"] == 0.3


def test_an_override_wins_over_a_cooldown(api_on: TestClient) -> None:
    create_job(api_on, "o", spec={"type": "constant", "learning_rate": 0.1})
    patch(api_on, "o", {"cooldown": {"epochs": 5, "shape": "linear"}, "override": 0.5})
    assert decide(api_on, "o", 0, {})["learning_rate"] == 0.5
    patch(api_on, "o", {"override": None})
    # It starts at the first decision the override no longer fixes.
    assert decide(api_on, "o", 1, {})["learning_rate"] == pytest.approx(0.1)
    assert decide(api_on, "o", 2, {})["learning_rate"] == pytest.approx(0.08)


def test_a_stopped_job_refuses_a_cooldown(api_on: TestClient) -> None:
    create_job(api_on, "x", spec={"type": "constant", "learning_rate": 0.1})
    patch(api_on, "x", {"status": "stopped"})
    refused = api_on.patch("/v1/jobs/x", json={"cooldown": {"steps": 5, "shape": "linear"}})
    problem(refused, 409, "stopped")
    assert api_on.get("/v1/jobs/x").json()["cooldown"] is None


@pytest.mark.parametrize(
    ("cooldown", "field"),
    [
        ({"steps": 5, "epochs": 2, "shape": "linear"}, "cooldown"),
        ({"shape": "linear"}, "cooldown"),
        ({"steps": 0, "shape": "linear"}, "steps"),
        ({"steps": 5.0, "shape": "linear"}, "steps"),
        ({"steps": "5", "shape": "linear"}, "steps"),
        ({"steps": 5}, "shape"),
        ({"steps": 5, "shape": "sqrt"}, "shape"),
        ({"steps": 5, "shape": "linear", "min_learning_rate": -0.1}, "min_learning_rate"),
        ({"steps": 5, "shape": "linear", "min_learning_rate": "0"}, "min_learning_rate"),
        ({"steps": 5, "shape": "linear", "floor": 0}, "floor"),
        ({"steps": 10**12, "shape": "linear"}, "steps"),
        ([5], "cooldown"),
    ],
)
def test_bad_cooldowns_are_422_naming_the_field(
    api_on: TestClient, cooldown: Any, field: str
) -> None:
    create_job(api_on, "bad", spec={"type": "constant", "learning_rate": 0.1})
    answer = problem(api_on.patch("/v1/jobs/bad", json={"cooldown": cooldown}), 422)
    locations = [error["loc"] for error in answer["errors"]]
    assert any(field in location for location in locations), locations
    bulk = problem(api_on.patch("/v1/jobs?selector=a=b", json={"cooldown": cooldown}), 422)
    assert any(field in error["loc"] for error in bulk["errors"])


def test_a_bulk_cooldown_changes_every_match_and_refuses_stopped_jobs(api_on: TestClient) -> None:
    for job_id, team in (("a", "nlp"), ("b", "nlp"), ("c", "vision"), ("d", "nlp")):
        create_job(
            api_on, job_id, spec={"type": "constant", "learning_rate": 0.1}, labels={"team": team}
        )
    patch(api_on, "d", {"status": "stopped"})
    body = {"cooldown": {"epochs": 2, "shape": "1-sqrt", "min_learning_rate": 0.01}}
    response = api_on.patch("/v1/jobs", params={"selector": "team=nlp"}, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    outcomes = {job["job_id"]: job["outcome"] for job in answer["jobs"]}
    assert outcomes == {"a": "changed", "b": "changed", "d": "refused"}
    change = api_on.get(f"/v1/changes/{answer['change_id']}").json()
    assert change["body"] == body
    for job_id in ("a", "b"):
        rates = [decide(api_on, job_id, epoch, {})["learning_rate"] for epoch in range(4)]
        assert rates == pytest.approx([0.1, 0.01 + 0.09 * (1 - 0.5**0.5), 0.01, 0.01], rel=1e-12)
    assert decide(api_on, "c", 3, {})["learning_rate"] == 0.1
    assert api_on.get("/v1/jobs/c").json()["cooldown"] is None
    # A bulk cancel: the cooldowns have finished, so each job refuses it.
    cancel = api_on.patch("/v1/jobs", params={"selector": "team=nlp"}, json={"cooldown": None})
    assert {job["outcome"] for job in cancel.json()["jobs"]} == {"refused"}
