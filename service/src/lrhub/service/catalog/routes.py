"""`/v1/schedules`: named schedules with immutable versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from lrhub.service.catalog import service as schedule_service
from lrhub.service.http.dependencies import Caller, Context, IfMatch
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.http.schemas import SCHEDULE_NAME_PATTERN, Page, ScheduleOut, SchedulePut

router = v1_router("/v1/schedules", "schedules")

ScheduleName = Annotated[str, Path(pattern=SCHEDULE_NAME_PATTERN, max_length=128)]


@router.put("/{name}", response_model=ScheduleOut, responses={201: {"model": ScheduleOut}})
def put_schedule(
    name: ScheduleName,
    body: SchedulePut,
    context: Context,
    caller: Caller,
    if_match: IfMatch = None,
) -> Response:
    """Create the schedule (201) or add a version when the spec changed (200)."""
    schedule, created = schedule_service.put_schedule(
        context.engine, caller, name, body.spec, body.description, if_match
    )
    return model_response(
        schedule, status_code=201 if created else 200, etag=schedule_service.etag_of(schedule)
    )


@router.get("", response_model=Page[ScheduleOut])
def list_schedules(
    context: Context, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """The latest version of every schedule, by name."""
    return model_response(schedule_service.list_schedules(context.engine, cursor, limit))


@router.get("/{name}", response_model=ScheduleOut)
def get_schedule(
    name: ScheduleName,
    context: Context,
    caller: Caller,
    version: Annotated[int | None, Query(ge=1, le=999_999_999)] = None,
) -> Response:
    """A version of the schedule (the latest by default)."""
    schedule = schedule_service.get_schedule(context.engine, name, version)
    return model_response(schedule, etag=schedule_service.etag_of(schedule))


@router.get("/{name}/versions", response_model=Page[ScheduleOut])
def list_versions(
    name: ScheduleName,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Every version of the schedule, oldest first."""
    return model_response(schedule_service.list_versions(context.engine, name, cursor, limit))


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_schedule(
    name: ScheduleName, context: Context, caller: Caller, if_match: IfMatch = None
) -> Response:
    """Remove the schedule; 409 while a job that is not stopped uses it."""
    schedule_service.delete_schedule(context.engine, caller, name, if_match)
    return Response(status_code=204)
