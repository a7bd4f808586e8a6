"""`POST /v1/preview`."""

from __future__ import annotations

from fastapi import Response

from lrhub.service.http.dependencies import Caller, Context
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.http.schemas import PreviewOut, PreviewRequest
from lrhub.service.previews.service import preview_schedule

router = v1_router("/v1", "preview")


@router.post("/preview", response_model=PreviewOut)
def preview(body: PreviewRequest, context: Context, caller: Caller) -> Response:
    """The rates a spec or stored schedule would give; nothing is stored."""
    return model_response(preview_schedule(context.engine, body))
