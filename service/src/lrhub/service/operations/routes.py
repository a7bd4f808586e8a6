"""Liveness, readiness and Prometheus endpoints (no auth)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from lrhub.service.errors import Unavailable
from lrhub.service.http.dependencies import Context
from lrhub.service.http.openapi import problem_responses
from lrhub.service.http.strict_json import StrictJsonRoute
from lrhub.service.jobs import service as job_service

router = APIRouter(tags=["operations"], route_class=StrictJsonRoute)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
def readyz(context: Context) -> dict[str, str]:
    """Readiness: the database answers."""
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise Unavailable("the database is unreachable") from error
    return {"status": "ready", "database": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(context: Context) -> Response:
    """Prometheus text exposition: the fleet's job gauges (from the database) and this
    process's request and decision metrics."""
    fleet = job_service.fleet_counts(context.engine, context.settings.stale_after)
    context.metrics.set_fleet(fleet.by_status, fleet.stale)
    return Response(context.metrics.render(), media_type="text/plain; version=0.0.4")
