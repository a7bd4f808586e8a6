"""`POST /v1/preview`."""

from __future__ import annotations

from fastapi import Response

from .api_models import PreviewOut, PreviewRequest
from .context import Caller, Context
from .preview_service import preview_schedule
from .responses import model_response
from .routers import v1_router

router = v1_router("/v1", "preview")


@router.post("/preview", response_model=PreviewOut)
def preview(body: PreviewRequest, context: Context, caller: Caller) -> Response:
    """The rates a spec or stored schedule would give; nothing is stored."""
    return model_response(preview_schedule(context.engine, body))
