"""Request and response bodies of `/v1/rollouts`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from lrhub.service.clock import as_utc
from lrhub.service.fields import MetricName, StoredText
from lrhub.service.http.schemas import RequestBody
from lrhub.service.jobs.schemas import JobPatch
from lrhub.service.jobs.selectors import SelectorError, parse_selector
from lrhub.service.rollouts.model import (
    Direction,
    JobFigure,
    Mode,
    RolloutState,
    StoredRollout,
    Verdict,
)

ROLLOUT_ID_PATTERN = r"^[0-9a-f-]{36}$"


class CanaryCount(RequestBody):
    """A canary cohort of exactly `count` jobs."""

    count: int = Field(ge=1)


class AnalysisBody(RequestBody):
    """What the judge compares (see "Rollouts" in docs/http-api.md)."""

    metric: MetricName = Field(description="A metric the jobs report, e.g. `val_loss`.")
    mode: Direction = Field(description="`min`: lower is better; `max`: higher is better.")
    epochs: int = Field(ge=1, le=10_000, description="Epochs each job reports after its baseline.")
    max_regression: float = Field(
        ge=0,
        le=1e6,
        description="How much worse the canary's median relative change may be than the "
        "control's (0.02: two percent) and still pass.",
    )


class RolloutCreate(RequestBody):
    """`POST /v1/rollouts`: a change tried on a canary cohort of the jobs `selector` matches."""

    selector: Annotated[StoredText, StringConstraints(min_length=1, max_length=4096)]
    change: JobPatch = Field(description="A single-job PATCH body.")
    canary: float | CanaryCount = Field(
        description="The canary's share of the matched jobs, in (0, 1) (rounded up), or "
        '`{"count": n}`.'
    )
    analysis: AnalysisBody
    promote: Mode = Mode.AUTO
    revert: Mode = Mode.AUTO
    seed: Annotated[StoredText, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None,
        description="Chooses the canary cohort: the same seed and jobs give the same cohort. "
        "Absent: the rollout's id.",
    )

    @field_validator("selector")
    @classmethod
    def _selector_parses(cls, value: str) -> str:
        try:
            parse_selector(value)
        except SelectorError as error:
            raise ValueError(f"not a selector: {error}") from error
        return value

    @field_validator("canary")
    @classmethod
    def _fraction_in_range(cls, value: float | CanaryCount) -> float | CanaryCount:
        if isinstance(value, float) and not 0 < value < 1:
            raise ValueError("a canary fraction must be greater than 0 and less than 1")
        return value


class JobFigureBody(BaseModel):
    """One cohort job in the verdict, or why it was left out."""

    job_id: str
    cohort: Literal["canary", "control"]
    baseline: float | None
    value: float | None
    relative_change: float | None = Field(
        description="(value - baseline) / |baseline|, sign turned for `max`: lower is better."
    )
    left_out: str | None = Field(description="Why the job is not in the verdict.")

    @classmethod
    def of(cls, figure: JobFigure) -> JobFigureBody:
        """The answer for one job's figures."""
        return cls.model_validate(figure, from_attributes=True)


class VerdictBody(BaseModel):
    """The judge's verdict: passed or not, the cohorts' medians, every job's figures."""

    passed: bool
    canary_median: float | None
    control_median: float | None
    detail: str
    jobs: list[JobFigureBody]

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictBody:
        """The answer for a verdict."""
        return cls(
            passed=verdict.passed,
            canary_median=verdict.canary_median,
            control_median=verdict.control_median,
            detail=verdict.detail,
            jobs=[JobFigureBody.of(figure) for figure in verdict.jobs],
        )


class Rollout(BaseModel):
    """A rollout: what it changes, its cohorts, its analysis, where it is and its verdict."""

    rollout_id: str
    state: RolloutState
    selector: str
    change: dict[str, Any] = Field(description="The PATCH body, fields as given.")
    change_id: str = Field(description="The change record (`/v1/changes/{change_id}`).")
    canary: list[str]
    control: list[str]
    analysis: AnalysisBody
    promote: Mode
    revert: Mode
    seed: str
    verdict: VerdictBody | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @classmethod
    def of(cls, rollout: StoredRollout) -> Rollout:
        """The answer for a stored rollout."""
        analysis = rollout.analysis
        return cls(
            rollout_id=rollout.rollout_id,
            state=rollout.state,
            selector=rollout.selector,
            change=rollout.change,
            change_id=rollout.change_id,
            canary=rollout.canary,
            control=rollout.control,
            analysis=AnalysisBody(
                metric=analysis.metric,
                mode=analysis.mode,
                epochs=analysis.epochs,
                max_regression=analysis.max_regression,
            ),
            promote=rollout.promote,
            revert=rollout.revert,
            seed=rollout.seed,
            verdict=VerdictBody.of(rollout.verdict) if rollout.verdict else None,
            created_at=as_utc(rollout.created_at),
            created_by=rollout.created_by,
            updated_at=as_utc(rollout.updated_at),
        )
