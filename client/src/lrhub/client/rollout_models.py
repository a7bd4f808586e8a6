"""Models of `/v1/rollouts` as the client sees them (re-exported by `lrhub.client.models`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from .models import _Model


class RolloutAnalysis(_Model):
    """What a rollout's judge compares: `metric` (`mode` `min` or `max`) `epochs` after each
    job's baseline; the canary fails when its median relative change is worse than the
    control's by more than `max_regression`."""

    metric: str
    mode: Literal["min", "max"]
    epochs: int
    max_regression: float


class RolloutJobFigure(_Model):
    """One cohort job in a verdict: baseline, value, relative change (lower is better), or
    why it was left out."""

    job_id: str
    cohort: Literal["canary", "control"]
    baseline: float | None = None
    value: float | None = None
    relative_change: float | None = None
    left_out: str | None = None


class RolloutVerdict(_Model):
    """The judge's verdict on a rollout's canary, with its figures."""

    passed: bool
    canary_median: float | None = None
    control_median: float | None = None
    detail: str
    jobs: list[RolloutJobFigure]


RolloutState = Literal["analyzing", "passed", "failed", "promoted", "reverted", "aborted"]


class Rollout(_Model):
    """A change tried on a canary cohort (`/v1/rollouts`): its cohorts, state and verdict."""

    rollout_id: str
    state: RolloutState
    selector: str
    change: dict[str, Any]
    change_id: str
    canary: list[str]
    control: list[str]
    analysis: RolloutAnalysis
    promote: Literal["auto", "manual"]
    revert: Literal["auto", "manual"]
    seed: str
    verdict: RolloutVerdict | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
