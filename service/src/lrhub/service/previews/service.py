"""`POST /v1/preview`: the rates a spec or stored schedule would give, storing nothing."""

from __future__ import annotations

from sqlalchemy import Engine

from lrhub.schedules import EvaluationError, preview
from lrhub.service.catalog.service import resolve_reference
from lrhub.service.errors import EvaluationFailed, InvalidInput
from lrhub.service.http.schemas import MAX_PREVIEW_STEPS, PreviewOut, PreviewRequest
from lrhub.service.storage.database import read_transaction
from lrhub.service.storage.specs import load_spec


def preview_schedule(engine: Engine, body: PreviewRequest) -> PreviewOut:
    """Evaluate `body.spec` or `body.schedule` for `body.epochs` epochs."""
    if (body.spec is None) == (body.schedule is None):
        raise InvalidInput.field("body.spec", "give exactly one of spec and schedule")
    steps = body.steps_per_epoch
    if steps is not None and body.epochs * steps > MAX_PREVIEW_STEPS:
        raise InvalidInput.field(
            "body.steps_per_epoch",
            f"epochs x steps_per_epoch must be at most {MAX_PREVIEW_STEPS}",
        )
    if body.metrics is not None and len(body.metrics) > body.epochs:
        raise InvalidInput.field("body.metrics", "at most one metrics object per epoch")
    spec = body.spec
    if spec is None:
        assert body.schedule is not None
        with read_transaction(engine) as connection:
            spec = load_spec(resolve_reference(connection, body.schedule, "body.schedule").spec)
    try:
        result = preview(spec, body.epochs, steps_per_epoch=steps, metrics=body.metrics)
    except EvaluationError as error:
        raise EvaluationFailed(str(error)) from error
    return PreviewOut(
        learning_rates=result.learning_rates,
        step_learning_rates=result.step_learning_rates,
        reasons=result.reasons,
        stop_epoch=result.stop_epoch,
    )
