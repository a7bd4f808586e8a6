"""`POST /v1/preview`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from .api_models import PreviewOut, PreviewRequest
from .context import Caller, Context
from .openapi import V1_PROBLEM_STATUSES, problem_responses
from .preview_service import preview_schedule
from .responses import model_response
from .strict_json import StrictJsonRoute

router = APIRouter(
    prefix="/v1",
    tags=["preview"],
    route_class=StrictJsonRoute,
    responses=problem_responses(*V1_PROBLEM_STATUSES),
)


@router.post("/preview", response_model=PreviewOut)
def preview(body: PreviewRequest, context: Context, caller: Caller) -> Response:
    """The rates a spec or stored schedule would give; nothing is stored."""
    return model_response(preview_schedule(context.engine, body))
