"""`/v1/schedules`: named schedules with immutable versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from lrhub.service.catalog import service as catalog_service
from lrhub.service.catalog.model import StoredVersion
from lrhub.service.catalog.schemas import Schedule, SchedulePut, schedule_etag
from lrhub.service.context import Caller, Context
from lrhub.service.fields import SCHEDULE_NAME_PATTERN
from lrhub.service.http.etags import IfMatch, expected_revision, tagged_revision
from lrhub.service.http.openapi import with_etag
from lrhub.service.http.paging import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_int_cursor,
    page_of,
)
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.revisions import ExpectedRevision

router = v1_router("/v1/schedules", "schedules")

ScheduleName = Annotated[str, Path(pattern=SCHEDULE_NAME_PATTERN, max_length=128)]


def expected_schedule_revision(if_match: str | None, name: str) -> ExpectedRevision | None:
    return expected_revision(if_match, lambda tag: tagged_revision(tag, f"{name}@"))


def _answer(version: StoredVersion, status_code: int = 200) -> Response:
    return model_response(
        Schedule.of(version),
        status_code=status_code,
        etag=schedule_etag(version.name, version.version),
    )


@router.put(
    "/{name}", response_model=Schedule, responses=with_etag(200, 201, models={201: Schedule})
)
def put_schedule(
    name: ScheduleName,
    body: SchedulePut,
    context: Context,
    caller: Caller,
    if_match: IfMatch = None,
) -> Response:
    """Create the schedule (201) or add a version when the spec changed (200)."""
    version, created = catalog_service.put_schedule(
        context.engine,
        caller,
        name,
        body.spec,
        body.description,
        expected_schedule_revision(if_match, name),
    )
    return _answer(version, status_code=201 if created else 200)


@router.get("", response_model=Page[Schedule])
def list_schedules(
    context: Context, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """The latest version of every schedule, by name."""
    after = decode_cursor(cursor, SCHEDULE_NAME_PATTERN)
    versions = catalog_service.list_schedules(context.engine, after, limit)
    return model_response(page_of(versions, limit, lambda v: v.name, Schedule.of))


@router.get("/{name}", response_model=Schedule, responses=with_etag(200))
def get_schedule(
    name: ScheduleName,
    context: Context,
    caller: Caller,
    version: Annotated[int | None, Query(ge=1, le=999_999_999)] = None,
) -> Response:
    """A version of the schedule (the latest by default)."""
    return _answer(catalog_service.get_schedule(context.engine, name, version))


@router.get("/{name}/versions", response_model=Page[Schedule])
def list_versions(
    name: ScheduleName,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Every version of the schedule, oldest first."""
    after = decode_int_cursor(cursor)
    versions = catalog_service.list_versions(context.engine, name, after, limit)
    return model_response(page_of(versions, limit, lambda v: v.version, Schedule.of))
