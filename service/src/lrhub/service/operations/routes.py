"""Liveness, readiness and Prometheus endpoints (no auth)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from lrhub.service.context import Context
from lrhub.service.errors import Unavailable
from lrhub.service.http.openapi import problem_responses
from lrhub.service.http.strict_json import StrictJsonRoute
from lrhub.service.jobs import service as job_service
from lrhub.service.rollouts import service as rollout_service

router = APIRouter(tags=["operations"], route_class=StrictJsonRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process serves requests (answered on the event loop, never queued behind
    requests waiting for the database)."""
    return {"status": "ok"}


def _database_answers(probe: Engine) -> None:
    with probe.connect() as connection:
        connection.execute(text("SELECT 1"))


@router.get("/readyz", responses=problem_responses(503))
async def readyz(context: Context) -> dict[str, str]:
    """Readiness: the database answers.

    The probe has a connection of its own (not one of the pool that requests waiting on a lock
    may hold) and a thread of its own (not one of the request thread pool's), so it answers while
    writes queue; a database that does not answer within the lock timeout is not ready.
    """
    try:
        await asyncio.wait_for(
            asyncio.to_thread(_database_answers, context.probe_engine),
            timeout=context.settings.lock_timeout,
        )
    except (SQLAlchemyError, TimeoutError) as error:
        raise Unavailable("the database is unreachable") from error
    return {"status": "ready", "database": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(context: Context) -> Response:
    """Prometheus text exposition: the request and decision metrics of every worker process,
    and the fleet's job and rollout gauges (from the database)."""
    fleet = job_service.fleet_counts(context.engine, context.settings.stale_after)
    rollouts = rollout_service.count_by_state(context.engine)
    exposition = context.metrics.render(fleet, rollouts)
    return Response(exposition, media_type="text/plain; version=0.0.4")
