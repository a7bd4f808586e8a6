"""JSON answers serialized by pydantic directly (no second validation pass), with ETags."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_response(
    model: BaseModel, *, status_code: int = 200, etag: str | None = None
) -> Response:
    """`model` as application/json, with an `ETag` header when given."""
    headers = {"ETag": etag} if etag is not None else None
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
