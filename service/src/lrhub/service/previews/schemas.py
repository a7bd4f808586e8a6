"""Request and response bodies of `POST /v1/preview`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lrhub.schedules import Preview, Spec
from lrhub.service.fields import MAX_PREVIEW_EPOCHS, Metrics, ScheduleRef, StepsPerEpoch
from lrhub.service.http.schemas import RequestBody


class PreviewRequest(RequestBody):
    """`POST /v1/preview`: exactly one of `spec` and `schedule`."""

    spec: Spec | None = None
    schedule: ScheduleRef | None = None
    epochs: int = Field(ge=1, le=MAX_PREVIEW_EPOCHS, strict=True)
    steps_per_epoch: StepsPerEpoch | None = None
    metrics: list[Metrics] | None = Field(default=None, max_length=MAX_PREVIEW_EPOCHS)


class PreviewResult(BaseModel):
    """The rates a spec would give, without storing anything."""

    learning_rates: list[float]
    step_learning_rates: list[list[float]] | None
    momentums: list[float | None] | None = Field(
        description="Each epoch's momentum (beta1), where the spec schedules one; null if never."
    )
    step_momentums: list[list[float] | None] | None = Field(
        description="Each epoch's per-step momentums, with steps_per_epoch."
    )
    reasons: list[str]
    reductions: list[int] = Field(description="The plateau reductions each epoch's decision made.")
    stop_epoch: int | None

    @classmethod
    def of(cls, preview: Preview) -> PreviewResult:
        """The answer for the engine's preview."""
        return cls(
            learning_rates=preview.learning_rates,
            step_learning_rates=preview.step_learning_rates,
            momentums=preview.momentums,
            step_momentums=preview.step_momentums,
            reasons=preview.reasons,
            reductions=preview.reductions,
            stop_epoch=preview.stop_epoch,
        )
