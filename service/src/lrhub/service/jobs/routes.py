"""`/v1/jobs`: create, read, list and change jobs; their audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Response

from lrhub.service.http.dependencies import Caller, Context, IfMatch
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.http.schemas import (
    JOB_ID_PATTERN,
    EventOut,
    JobCreate,
    JobCreated,
    JobOut,
    JobPatch,
    Page,
)
from lrhub.service.jobs import service as job_service

router = v1_router("/v1/jobs", "jobs")

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=253)]


@router.put("/{job_id}", response_model=JobOut, responses={201: {"model": JobCreated}})
def put_job(job_id: JobId, body: JobCreate, context: Context, caller: Caller) -> Response:
    """Create the job (201, with its token, shown once) or answer the existing one unchanged."""
    job, revision, created = job_service.create_job(context.engine, caller, job_id, body)
    return model_response(
        job, status_code=201 if created else 200, etag=job_service.etag_of(job, revision)
    )


@router.get("", response_model=Page[JobOut])
def list_jobs(
    context: Context,
    caller: Caller,
    label: Annotated[
        list[str], Query(max_length=32, description="`key=value`, repeatable; all must match.")
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    status: Literal["running", "stopped"] | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Jobs by id, filtered by labels and status."""
    labels = job_service.parse_label_filters(label)
    page = job_service.list_jobs(context.engine, caller, labels, status, cursor, limit)
    return model_response(page)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, context: Context, caller: Caller) -> Response:
    """The job: configuration, current rate, last epoch, engine state."""
    job, revision = job_service.get_job(context.engine, caller, job_id)
    return model_response(job, etag=job_service.etag_of(job, revision))


@router.patch("/{job_id}", response_model=JobOut)
def patch_job(
    job_id: JobId, body: JobPatch, context: Context, caller: Caller, if_match: IfMatch = None
) -> Response:
    """Change the job from its next decided epoch on; one audit event."""
    job, revision = job_service.patch_job(context.engine, caller, job_id, body, if_match)
    return model_response(job, etag=job_service.etag_of(job, revision))


@router.get("/{job_id}/events", response_model=Page[EventOut])
def list_events(
    job_id: JobId,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The job's audit log, oldest first."""
    return model_response(job_service.list_events(context.engine, caller, job_id, cursor, limit))
