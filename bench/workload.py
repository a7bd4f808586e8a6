"""The decision workload every benchmark sends: one spec, Keras-like metrics, new epochs.

A job is a 100-epoch training run reporting what Keras' `logs` hold at each epoch end, under a
reduce-on-plateau schedule (the stateful case: every decision reads and writes plateau state).
"""

from __future__ import annotations

import math
from typing import Any

import httpx

EPOCHS_PER_JOB = 100

PLATEAU_SPEC: dict[str, Any] = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 5,
    "min_lr": 1e-5,
    "initial_learning_rate": 0.1,
}


def epoch_metrics(epoch: int) -> dict[str, float]:
    """Metrics observed at the end of `epoch - 1`: a loss curve that plateaus, with noise."""
    if epoch == 0:
        return {}
    wobble = 0.01 * math.sin(epoch * 1.7)
    val_loss = 0.1 + 0.6 * math.exp(-epoch / 15) + wobble
    return {
        "loss": round(val_loss * 0.9, 6),
        "accuracy": round(1 - val_loss / 2, 6),
        "val_loss": round(val_loss, 6),
        "val_accuracy": round(1 - val_loss / 1.8, 6),
    }


def decision_body(epoch: int) -> dict[str, Any]:
    """The JSON body of `POST /v1/jobs/{job}/epochs/{epoch}`."""
    return {"metrics": epoch_metrics(epoch)}


def decision_path(job_id: str, epoch: int) -> str:
    return f"/v1/jobs/{job_id}/epochs/{epoch}"


def create_job(client: httpx.Client, job_id: str, spec: dict[str, Any] | None = None) -> None:
    """Register `job_id` (idempotent PUT) with the plateau spec, or `spec`."""
    response = client.put(f"/v1/jobs/{job_id}", json={"spec": spec or PLATEAU_SPEC})
    response.raise_for_status()
