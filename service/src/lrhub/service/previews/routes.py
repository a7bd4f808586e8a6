"""`POST /v1/preview`."""

from __future__ import annotations

from fastapi import Response

from lrhub.service.context import Caller, Context
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.previews.schemas import PreviewRequest, PreviewResult
from lrhub.service.previews.service import preview_schedule

router = v1_router("/v1", "preview")


@router.post("/preview", response_model=PreviewResult)
def preview(body: PreviewRequest, context: Context, caller: Caller) -> Response:
    """The rates a spec or stored schedule would give; nothing is stored."""
    result = preview_schedule(
        context.engine,
        context.limits,
        context.evaluator,
        spec=body.spec,
        schedule=body.schedule,
        epochs=body.epochs,
        steps_per_epoch=body.steps_per_epoch,
        metrics=body.metrics,
    )
    return model_response(PreviewResult.of(result))
