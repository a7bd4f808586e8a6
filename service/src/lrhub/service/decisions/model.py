"""Decisions' records: a decided epoch as it is stored, and a point of a job's curve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class NewDecision:
    """One decided epoch of a job, as it is stored (every column of `decisions` but `id`)."""

    job_id: str
    epoch: int
    metrics: dict[str, float] | None
    """The decision's input: the metrics observed at the end of the epoch before."""
    steps_per_epoch: int | None
    learning_rate: float
    step_learning_rates: list[float] | None
    """The epoch's per-step rates when known: as answered, or derived again on read. Never
    written: they follow from the spec, `state_before`, `metrics`, `clock_origin` and the step
    rule (only rows from before 0.2.0 hold a stored list)."""
    step_scale: float | None
    """With `step_fixed`, the operator's rule for the per-step rates (set with steps_per_epoch)."""
    step_fixed: float | None
    reason: str
    stop: bool
    reductions: int
    """How many plateau reductions this decision made (0 or 1 per plateau rule in the spec)."""
    schedule_name: str | None
    schedule_version: int | None
    spec_key: str
    """Which spec `state_before` and `state_after` belong to (with `clock_origin`)."""
    clock_origin: int
    state_before: dict[str, Any] | None
    state_after: dict[str, Any]
    gap: int
    rewound: bool
    superseded: bool
    decided_at: datetime
    end_metrics: dict[str, float] | None
    """Observed at the end of this epoch; None until the job reports them."""
    momentum: float | None
    """The schedule's momentum (beta1) of the epoch's first step, where it schedules one."""
    step_momentums: list[float] | None = field(default=None, kw_only=True)
    """The epoch's per-step momentums when known, as answered or derived again on read (like
    `step_learning_rates`, never written)."""
    step_cooldown: dict[str, Any] | None = field(default=None, kw_only=True)
    """With the step rule: the started cooldown that gave the per-step rates
    (`Cooldown.as_document`), None when none did."""
    applied_learning_rate: float | None = field(default=None, kw_only=True)
    """What the job's optimizer held at the end of this epoch (its last step's rate), as its
    adapter reported with the next request; None until reported."""
    applied_momentum: float | None = field(default=None, kw_only=True)
    """Likewise its momentum (beta1), reported where the schedule sets one."""
    drift: bool | None = field(default=None, kw_only=True)
    """Whether the applied rate differs from the rate in force (`decisions.drift`)."""


@dataclass(frozen=True)
class StoredDecision(NewDecision):
    """A row of `decisions`: a NewDecision with its id, which orders the history, and its
    stream position (None until the stream's sequencer numbers it)."""

    id: int
    seq: int | None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One epoch of a job's rate curve: the decision in force for it, without its state (its
    fields in the order of a series' columns)."""

    epoch: int
    learning_rate: float
    reason: str
    reductions: int
    decided_at: datetime
    end_metrics_json: str | None
    """The metrics observed at the end of the epoch as the JSON text stored (None until
    reported): a curve passes them on undecoded."""
    applied_learning_rate: float | None
    drift: bool | None


@dataclass(frozen=True, slots=True)
class AppliedRates:
    """What a job's optimizer held at the end of an epoch, as its adapter reported it."""

    learning_rate: float
    momentum: float | None = None


@dataclass(frozen=True)
class InForce:
    """What a job's optimizer should hold at the end of an epoch: the rate (and momentum) its
    decision set for the epoch's last step."""

    epoch: int
    learning_rate: float
    momentum: float | None

    @classmethod
    def of(cls, decision: NewDecision) -> InForce:
        """The last step's rate and momentum of `decision` (per-step ones when known)."""
        rate = decision.learning_rate
        if decision.step_learning_rates:
            rate = decision.step_learning_rates[-1]
        momentum = decision.momentum
        if decision.step_momentums:
            momentum = decision.step_momentums[-1]
        return cls(decision.epoch, rate, momentum)


@dataclass(frozen=True, slots=True)
class AppliedReport:
    """An applied report checked against the decision in force for its epoch."""

    epoch: int
    applied: AppliedRates
    in_force: float
    """The rate in force at the epoch's last step (what the optimizer should have held)."""
    momentum_in_force: float | None
    drift: bool


class DecisionKind(StrEnum):
    """How a decision request was answered: decided now, replayed, or decided again (rewind)."""

    NEW = "new"
    REPLAYED = "replayed"
    REWOUND = "rewound"


@dataclass(frozen=True)
class DecisionReply:
    """What a decision request gets from the service: the decision (stored now or before) and
    how it was answered."""

    record: NewDecision
    kind: DecisionKind
    applied: AppliedReport | None = None
    """What the job applied during the epoch before, as this request reported and it was
    recorded (None when it reported nothing, or nothing was recorded)."""
    spec: str | None = None
    """The spec text the decision was made with (its per-step rates follow from it); None when
    it is no longer kept."""

    @property
    def reductions_made(self) -> int:
        """The plateau reductions this request made (a replay makes none again)."""
        return 0 if self.kind is DecisionKind.REPLAYED else self.record.reductions
