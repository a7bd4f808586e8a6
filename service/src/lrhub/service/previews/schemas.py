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
    reasons: list[str]
    reductions: list[int] = Field(description="The plateau reductions each epoch's decision made.")
    stop_epoch: int | None

    @classmethod
    def of(cls, preview: Preview) -> PreviewResult:
        """The answer for the engine's preview."""
        return cls(
            learning_rates=preview.learning_rates,
            step_learning_rates=preview.step_learning_rates,
            reasons=preview.reasons,
            reductions=preview.reductions,
            stop_epoch=preview.stop_epoch,
        )
