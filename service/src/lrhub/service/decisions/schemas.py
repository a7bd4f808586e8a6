"""Request and response bodies of `/v1/jobs/{job_id}/epochs`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lrhub.service.clock import as_utc
from lrhub.service.decisions.store import DecisionRecord, StoredDecision
from lrhub.service.http.schemas import EngineState, Metrics, RequestBody, StepsPerEpoch


class DecisionRequest(RequestBody):
    """`POST /v1/jobs/{job_id}/epochs/{epoch}`: metrics observed at the end of epoch-1."""

    metrics: Metrics | None = None
    steps_per_epoch: StepsPerEpoch | None = None


class EpochEnd(RequestBody):
    """`PUT /v1/jobs/{job_id}/epochs/{epoch}/metrics`: the metrics observed at the end of epoch."""

    metrics: Metrics


class ScheduleVersionRef(BaseModel):
    """The named schedule version a decision used (nulls for an inline spec)."""

    name: str | None
    version: int | None


class EpochAnswer(BaseModel):
    """The rate for one epoch of a job: the schedule's decision after the operator's settings."""

    job_id: str
    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None
    reason: str
    stop: bool
    schedule: ScheduleVersionRef
    replayed: bool
    rewound: bool
    gap: int
    state: EngineState
    decided_at: datetime

    @classmethod
    def of(cls, record: DecisionRecord, *, replayed: bool) -> EpochAnswer:
        """The answer for a decision, stored now (`replayed` false) or before."""
        return cls(
            job_id=record.job_id,
            epoch=record.epoch,
            learning_rate=record.learning_rate,
            step_learning_rates=record.step_learning_rates,
            reason=record.reason,
            stop=record.stop,
            schedule=ScheduleVersionRef(name=record.schedule_name, version=record.schedule_version),
            replayed=replayed,
            rewound=record.rewound,
            gap=record.gap,
            state=record.state_after,
            decided_at=as_utc(record.decided_at),
        )


class HistoryEntry(BaseModel):
    """One stored decision of a job: the rate of its epoch and what that epoch observed."""

    epoch: int
    learning_rate: float = Field(description="The rate used during this epoch (its first step's).")
    step_learning_rates: list[float] | None
    reason: str
    stop: bool
    metrics: dict[str, float] | None = Field(
        description="Observed at the end of this epoch; null until the job reports them."
    )
    input_metrics: dict[str, float] | None = Field(
        description="What the decision was made from: the metrics observed at the end of the "
        "epoch before (`{}` for epoch 0, null when the caller did not know them)."
    )
    schedule: ScheduleVersionRef
    superseded: bool
    decided_at: datetime

    @classmethod
    def of(cls, decision: StoredDecision) -> HistoryEntry:
        """One stored decision as the history shows it."""
        return cls(
            epoch=decision.epoch,
            learning_rate=decision.learning_rate,
            step_learning_rates=decision.step_learning_rates,
            reason=decision.reason,
            stop=decision.stop,
            metrics=decision.end_metrics,
            input_metrics=decision.metrics,
            schedule=ScheduleVersionRef(
                name=decision.schedule_name, version=decision.schedule_version
            ),
            superseded=decision.superseded,
            decided_at=as_utc(decision.decided_at),
        )
