"""Rollouts' records: a rollout, its analysis, its cohorts and the judge's verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RolloutState(StrEnum):
    """Where a rollout is. `analyzing` until the judge's verdict; `passed` and `failed` wait for
    an operator when promotion or revert is manual; `promoted`, `reverted` and `aborted` are
    final."""

    ANALYZING = "analyzing"
    PASSED = "passed"
    FAILED = "failed"
    PROMOTED = "promoted"
    REVERTED = "reverted"
    ABORTED = "aborted"


FINAL_STATES = frozenset({RolloutState.PROMOTED, RolloutState.REVERTED, RolloutState.ABORTED})


class Mode(StrEnum):
    """Whether the judge's verdict acts by itself (`auto`) or waits for an operator."""

    AUTO = "auto"
    MANUAL = "manual"


class Direction(StrEnum):
    """Whether a lower (`min`) or a higher (`max`) value of the metric is better."""

    MIN = "min"
    MAX = "max"


@dataclass(frozen=True)
class Analysis:
    """What the judge compares: `metric` after `epochs` more epochs than each job's baseline;
    the canary fails when its median relative change is worse than the control's by more than
    `max_regression`."""

    metric: str
    mode: Direction
    epochs: int
    max_regression: float


@dataclass(frozen=True)
class Baseline:
    """A cohort job's metric at the last epoch it reported before the rollout's change."""

    epoch: int
    value: float


@dataclass(frozen=True)
class JobFigure:
    """One cohort job in the verdict: its baseline, its metric `epochs` later, its relative
    change (sign turned for `max`, so lower is always better); or why it was left out."""

    job_id: str
    cohort: str
    baseline: float | None
    value: float | None
    relative_change: float | None
    left_out: str | None = None
    """Why the job is not in the verdict (finished, stale, no baseline...); None when it is."""


@dataclass(frozen=True)
class Verdict:
    """The judge's answer: whether the canary passed, the cohorts' medians and every job's
    figures."""

    passed: bool
    canary_median: float | None
    control_median: float | None
    jobs: list[JobFigure]
    detail: str


@dataclass(frozen=True)
class StoredRollout:
    """One row of `rollouts`."""

    rollout_id: str
    created_at: datetime
    created_by: str
    selector: str
    change: dict[str, Any]
    """The single-job PATCH body, fields as given."""
    canary_request: dict[str, Any]
    """As asked: {"fraction": f} or {"count": n}."""
    seed: str
    analysis: Analysis
    promote: Mode
    revert: Mode
    state: RolloutState
    change_id: str
    canary: list[str]
    control: list[str]
    baselines: dict[str, Baseline]
    restore: dict[str, dict[str, Any]]
    """Per canary job, the columns the change set and their values before it."""
    verdict: Verdict | None
    updated_at: datetime
    judged_by: str | None
    """The process whose judge (or the operator whose request) moved the rollout last."""


@dataclass(frozen=True)
class StoredRolloutEvent:
    """One row of `rollout_events`: a state the rollout entered, who moved it, and the facts
    announced (cohorts, verdict figures)."""

    id: int
    rollout_id: str
    at: datetime
    actor: str
    state: RolloutState
    data: dict[str, Any]
    seq: int | None
    """Stream position (None until the stream's sequencer numbers it)."""
