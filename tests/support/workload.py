"""Deterministic training jobs driven over raw HTTP, and the oracles they are checked against.

A `JobPlan` is one job: its spec and the metrics a training loop would report at every epoch.
The expected rates come from the engine (`lrhub.schedules.preview`), the expected decisions from
an undisturbed, sequential run of the same plans against one server (`run_sequentially`).
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
class JobPlan:
    """One job: its id, its spec, and `metrics[e]`, the body's metrics for epoch `e`.

    `metrics[e]` were observed at the end of epoch e-1, so `metrics[0]` is `{}`.
    """

    job_id: str
    spec: dict[str, Any]
    metrics: tuple[dict[str, float], ...]

    @property
    def epochs(self) -> int:
        return len(self.metrics)

    def decision_body(self, epoch: int) -> dict[str, Any]:
        """What a training loop posts to decide `epoch`."""
        return {"metrics": self.metrics[epoch]}

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


def build_plans(prefix: str, jobs: int, epochs: int, seed: int) -> list[JobPlan]:
    """`jobs` plans cycling through `SPEC_MIX`, each with its own seeded metric series."""
    return [
        JobPlan(
            job_id=f"{prefix}-{index:03d}",
            spec=SPEC_MIX[index % len(SPEC_MIX)],
            metrics=metric_series(random.Random(seed * 100_003 + index), epochs),
        )
        for index in range(jobs)
    ]


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


def create_job(client: httpx.Client, base_url: str, plan: JobPlan) -> dict[str, Any]:
    """PUT the plan's job with its inline spec; answers the job (201 new, 200 existing)."""
    response = client.put(f"{base_url}/v1/jobs/{plan.job_id}", json={"spec": plan.spec})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def post_decision(
    client: httpx.Client,
    base_url: str,
    plan: JobPlan,
    epoch: int,
    *,
    retry_until: float | None = None,
    counter: DecisionCounter | None = None,
) -> dict[str, Any]:
    """Decide `epoch` of `plan`; with `retry_until` (a monotonic deadline) retry the identical
    request on connection failures and 503, as a client does while a server restarts."""
    url = f"{base_url}/v1/jobs/{plan.job_id}/epochs/{epoch}"
    while True:
        try:
            response = client.post(url, json=plan.decision_body(epoch))
        except httpx.TransportError:
            if retry_until is None or time.monotonic() > retry_until:
                raise
        else:
            if response.status_code != 503 or retry_until is None:
                assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
                if counter is not None:
                    counter.add_answer()
                return dict(response.json())
            if time.monotonic() > retry_until:
                raise AssertionError(f"{url}: still 503 at the deadline: {response.text}")
        if counter is not None:
            counter.add_retry()
        time.sleep(RETRY_POLL_SECONDS)  # back-off between retries, as any client does


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


def run_sequentially(base_url: str, plans: Iterable[JobPlan]) -> dict[str, list[dict[str, Any]]]:
    """The undisturbed reference: each plan's epochs decided in order, one request each."""
    answers: dict[str, list[dict[str, Any]]] = {}
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as client:
        for plan in plans:
            create_job(client, base_url, plan)
            answers[plan.job_id] = [
                post_decision(client, base_url, plan, epoch) for epoch in range(plan.epochs)
            ]
    return answers


def assert_history_matches(
    rows: Sequence[Mapping[str, Any]], plan: JobPlan, decisions: Sequence[Mapping[str, Any]]
) -> None:
    """Exactly one non-superseded row per epoch, none superseded (no rewind happened), each
    carrying the rate that was answered and the metrics that were sent."""
    assert [row["superseded"] for row in rows] == [False] * len(rows), "a superseded row exists"
    assert [row["epoch"] for row in rows] == list(range(plan.epochs))
    for row, decision in zip(rows, decisions, strict=True):
        assert row["learning_rate"] == decision["learning_rate"], (plan.job_id, row)
        assert row["metrics"] == plan.metrics[row["epoch"]], (plan.job_id, row)
