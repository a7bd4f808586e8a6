"""Deterministic training jobs driven over raw HTTP, and the oracles they are checked against.

A `JobPlan` is one job: its spec and the metrics a training loop reports at every epoch, some
jobs after resuming from an older checkpoint (a rewind). The expected rates come from the engine
(`lrhub.schedules.preview`), the expected decisions from an undisturbed, sequential run of the
same plans against one server (`run_sequentially`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from lrhub.schedules import parse_spec, preview

REQUEST_TIMEOUT_SECONDS = 30.0
RETRY_POLL_SECONDS = 0.05
# The fields of a decision that must not depend on which server answered, or when.
DECISION_FIELDS = ("epoch", "learning_rate", "step_learning_rates", "reason", "stop", "schedule")

# A mix of what training jobs use: plateau schedules (Keras and PyTorch semantics, on top of a
# cosine base, in max mode with cooldown) next to stateless ones and a `prev_lr` expression,
# whose state is the previous rate.
SPEC_MIX: tuple[dict[str, Any], ...] = (
    {"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.5, "patience": 2,
     "initial_learning_rate": 0.1, "min_lr": 1e-4},
    {"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.3, "patience": 1,
     "semantics": "torch", "initial_learning_rate": 0.05},
    {"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 0.5, "patience": 2,
     "base": {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 40}},
    {"type": "reduce_on_plateau", "monitor": "val_accuracy", "mode": "max", "factor": 0.2,
     "patience": 1, "cooldown": 1, "initial_learning_rate": 0.01, "min_lr": 1e-5},
    {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 3},
    {"type": "expression", "initial_learning_rate": 0.1,
     "expression": "initial_learning_rate if epoch < 3 else prev_lr * exp(-0.1)"},
    {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 4,
     "decay_rate": 0.7, "staircase": True},
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One decision request of a training loop: the epoch and the metrics it sends."""

    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class JobPlan:
    """One job: its id, its spec, and `metrics[e]`, the metrics its epoch `e` is decided with
    in the end (observed at the end of epoch e-1, so `metrics[0]` is `{}`).

    With `abandoned`, the job first ran epochs `resume_epoch`, `resume_epoch + 1`, ... with
    those metrics, then resumed from its checkpoint of `resume_epoch` and ran on: the server
    rewinds, and the abandoned decisions stay in the history as superseded rows.
    """

    job_id: str
    spec: dict[str, Any]
    metrics: tuple[dict[str, float], ...]
    abandoned: tuple[dict[str, float], ...] = ()
    resume_epoch: int = 0

    @property
    def epochs(self) -> int:
        return len(self.metrics)

    def steps(self) -> list[Step]:
        """Every request the training loop sends, in order."""
        final = [Step(epoch, metrics) for epoch, metrics in enumerate(self.metrics)]
        lost = [Step(self.resume_epoch + i, metrics) for i, metrics in enumerate(self.abandoned)]
        return final[: self.resume_epoch] + lost + final[self.resume_epoch :]

    def expected_rates(self) -> list[float]:
        """The engine's rates for this plan: what any correct, uninterrupted run answers."""
        rates: list[float] = preview(
            parse_spec(self.spec), self.epochs, metrics=list(self.metrics[1:])
        ).learning_rates
        return rates


def metric_series(rng: random.Random, epochs: int) -> tuple[dict[str, float], ...]:
    """Validation metrics with real plateaus: a loss that sometimes improves, else stalls."""
    series: list[dict[str, float]] = [{}]
    loss = 1.0
    for _ in range(epochs - 1):
        loss *= 0.8 if rng.random() < 0.35 else 1.0 + rng.uniform(0.0, 0.02)
        series.append({"val_loss": round(loss, 6), "val_accuracy": round(1.0 - loss / 2, 6)})
    return tuple(series)


def worse(metrics: Mapping[str, float]) -> dict[str, float]:
    """Metrics of a run that went worse than `metrics`: what a discarded branch reported."""
    return {"val_loss": round(metrics["val_loss"] * 1.25, 6),
            "val_accuracy": round(metrics["val_accuracy"] * 0.9, 6)}  # fmt: skip


def build_plans(prefix: str, jobs: int, epochs: int, seed: int) -> list[JobPlan]:
    """`jobs` plans cycling through `SPEC_MIX`, each with its own seeded metric series; every
    third job resumes once from an older checkpoint, abandoning three decided epochs."""
    plans = []
    for index in range(jobs):
        metrics = metric_series(random.Random(seed * 100_003 + index), epochs)
        resume_epoch = epochs // 2 if index % 3 == 2 else 0
        abandoned = metrics[resume_epoch : resume_epoch + 3] if resume_epoch else ()
        plans.append(
            JobPlan(
                job_id=f"{prefix}-{index:03d}",
                spec=SPEC_MIX[index % len(SPEC_MIX)],
                metrics=metrics,
                abandoned=tuple(worse(m) for m in abandoned),
                resume_epoch=resume_epoch,
            )
        )
    return plans


def decision_essence(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a decision answer that any correct server gives identically."""
    return {name: answer[name] for name in DECISION_FIELDS}


@dataclass
class DecisionCounter:
    """Counts decisions answered across threads; lets a test wait for the n-th one."""

    answered: int = 0
    retried: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def add_answer(self) -> None:
        with self._changed:
            self.answered += 1
            self._changed.notify_all()

    def add_retry(self) -> None:
        with self._changed:
            self.retried += 1

    def wait_for(self, answered: int, timeout: float) -> bool:
        """True once `answered` decisions were counted, False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self.answered >= answered, timeout)


def send_retrying(
    client: httpx.Client,
    method: str,
    url: str,
    body: Mapping[str, Any],
    *,
    retry_until: float | None = None,
    counter: DecisionCounter | None = None,
) -> httpx.Response:
    """Send one request; with `retry_until` (a monotonic deadline) retry the identical request on
    connection failures and 503, as a client does while a server restarts. Answers the first
    response that is not a 503 (or any response without `retry_until`)."""
    while True:
        try:
            response = client.request(method, url, json=body)
        except httpx.TransportError:
            if retry_until is None or time.monotonic() > retry_until:
                raise
        else:
            if response.status_code != 503 or retry_until is None:
                return response
            if time.monotonic() > retry_until:
                raise AssertionError(f"{url}: still 503 at the deadline: {response.text}")
        if counter is not None:
            counter.add_retry()
        time.sleep(RETRY_POLL_SECONDS)  # back-off between retries, as any client does


def create_job(
    client: httpx.Client, base_url: str, plan: JobPlan, *, retry_until: float | None = None
) -> dict[str, Any]:
    """PUT the plan's job with its inline spec (idempotent, so safe to retry); answers the job
    (201 new, 200 existing)."""
    url = f"{base_url}/v1/jobs/{plan.job_id}"
    response = send_retrying(client, "PUT", url, {"spec": plan.spec}, retry_until=retry_until)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def post_decision(
    client: httpx.Client,
    base_url: str,
    job_id: str,
    step: Step,
    *,
    retry_until: float | None = None,
    counter: DecisionCounter | None = None,
) -> dict[str, Any]:
    """Send `step` of job `job_id`, retrying as `send_retrying` does; answers the decision."""
    url = f"{base_url}/v1/jobs/{job_id}/epochs/{step.epoch}"
    response = send_retrying(
        client, "POST", url, {"metrics": step.metrics}, retry_until=retry_until, counter=counter
    )
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
    if counter is not None:
        counter.add_answer()
    return dict(response.json())


def fetch_history(
    client: httpx.Client, base_urls: Sequence[str], job_id: str, *, page_size: int = 7, **query: str
) -> list[dict[str, Any]]:
    """Every history row of `job_id`, following cursors; pages alternate between `base_urls`
    (a cursor from one replica must work on another: they are stateless)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for page in range(10_000):
        params: dict[str, str | int] = {"limit": page_size, **query}
        if cursor is not None:
            params["cursor"] = cursor
        base_url = base_urls[page % len(base_urls)]
        response = client.get(f"{base_url}/v1/jobs/{job_id}/epochs", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError(f"history of {job_id} did not end after 10,000 pages")


def final_decisions(
    steps: Sequence[Step], answers: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The decision in force for each epoch, in epoch order: the last answer for it."""
    last = {step.epoch: answer for step, answer in zip(steps, answers, strict=True)}
    return [last[epoch] for epoch in sorted(last)]


def run_sequentially(base_url: str, plans: Iterable[JobPlan]) -> dict[str, list[dict[str, Any]]]:
    """The undisturbed reference: each plan's steps sent in order, once each; answers the final
    decisions of each job."""
    decisions: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for plan in plans:
            create_job(client, base_url, plan)
            steps = plan.steps()
            answers = [post_decision(client, base_url, plan.job_id, step) for step in steps]
            decisions[plan.job_id] = final_decisions(steps, answers)
    return decisions


def assert_history_matches(
    rows: Sequence[Mapping[str, Any]], plan: JobPlan, decisions: Sequence[Mapping[str, Any]]
) -> None:
    """Exactly one non-superseded row per epoch, carrying the final decision's rate and the
    metrics sent for it; superseded rows exactly for the abandoned epochs, nothing else."""
    current = sorted((row for row in rows if not row["superseded"]), key=lambda r: r["epoch"])
    assert [row["epoch"] for row in current] == list(range(plan.epochs)), plan.job_id
    for row, decision in zip(current, decisions, strict=True):
        assert row["learning_rate"] == decision["learning_rate"], (plan.job_id, row)
        assert row["input_metrics"] == plan.metrics[row["epoch"]], (plan.job_id, row)
    superseded = sorted(
        ((row["epoch"], row["input_metrics"]) for row in rows if row["superseded"]),
        key=lambda r: r[0],
    )
    abandoned = [(plan.resume_epoch + i, m) for i, m in enumerate(plan.abandoned)]
    assert superseded == abandoned, plan.job_id
