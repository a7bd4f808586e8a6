"""How every /v1 router is built: strict JSON bodies and documented problem answers."""

from __future__ import annotations

from fastapi import APIRouter

from lrhub.service.http.openapi import V1_PROBLEM_STATUSES, problem_responses
from lrhub.service.http.strict_json import StrictJsonRoute


def v1_router(prefix: str, tag: str) -> APIRouter:
    """A router for one group of /v1 resources."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        route_class=StrictJsonRoute,
        responses=problem_responses(*V1_PROBLEM_STATUSES),
    )
