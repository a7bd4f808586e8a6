"""Jobs with histories, made through the public API, for the browser tests and the benchmark."""

from __future__ import annotations

import math

import httpx

PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "initial_learning_rate": 0.1,
    "factor": 0.5,
    "patience": 2,
}
COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.05, "decay_steps": 40}


def val_loss(epoch: int) -> float:
    """A loss that falls, then stays flat from epoch 8 on (so a plateau schedule reduces the
    rate every `patience` epochs)."""
    return round(0.3 + 0.7 * math.exp(-min(epoch, 8) / 4), 4)


def put_schedule(client: httpx.Client, name: str, spec: dict[str, object]) -> None:
    answer = client.put(f"/v1/schedules/{name}", json={"spec": spec, "description": f"{name}"})
    assert answer.status_code in (200, 201), answer.text


def create_job(client: httpx.Client, job_id: str, schedule: str, labels: dict[str, str]) -> str:
    """Create the job; answers its job token."""
    answer = client.put(f"/v1/jobs/{job_id}", json={"schedule": schedule, "labels": labels})
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def report_epochs(client: httpx.Client, job_id: str, epochs: range) -> list[float]:
    """Ask for the rate of each epoch with the previous epoch's metrics; answers the rates."""
    rates = []
    for epoch in epochs:
        metrics = (
            {}
            if epoch == 0
            else {"val_loss": val_loss(epoch - 1), "loss": val_loss(epoch - 1) * 0.9}
        )
        answer = client.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json={"metrics": metrics})
        assert answer.status_code == 200, answer.text
        rates.append(answer.json()["learning_rate"])
    return rates


def seed_fleet(client: httpx.Client, epochs: int = 24) -> None:
    """Two schedules and a few labelled jobs with histories."""
    put_schedule(client, "plateau", PLATEAU)
    put_schedule(client, "cosine", COSINE)
    for index, (team, schedule) in enumerate(
        [("vision", "plateau"), ("vision", "cosine"), ("vision", "plateau"), ("speech", "cosine")]
    ):
        job_id = f"{team}-{index}"
        create_job(client, job_id, schedule, {"team": team, "stage": "dev"})
        report_epochs(client, job_id, range(epochs - 4 * index))
