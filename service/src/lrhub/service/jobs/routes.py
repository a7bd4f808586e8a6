"""`/v1/jobs`: create, read, list and change jobs; their audit log."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated

from fastapi import Depends, Path, Query, Response

from lrhub.service.catalog.routes import ScheduleName, expected_schedule_revision
from lrhub.service.context import AppContext, Caller, Context
from lrhub.service.errors import InvalidRequest
from lrhub.service.fields import JOB_ID_PATTERN, LABEL_KEY_PATTERN, JobStatus, storable_text
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
from lrhub.service.jobs import service as job_service
from lrhub.service.jobs.model import StoredJob
from lrhub.service.jobs.schemas import (
    AuditEvent,
    Job,
    JobCreate,
    JobCreated,
    JobToken,
    job_etag,
)
from lrhub.service.jobs.selectors import Selector, SelectorError, parse_selector
from lrhub.service.revisions import ExpectedRevision

router = v1_router("/v1/jobs", "jobs")
# Deleting a schedule detaches the finished jobs on it: a use case of the jobs domain.
schedule_router = v1_router("/v1/schedules", "schedules")

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=253)]
_LABEL_KEY = re.compile(LABEL_KEY_PATTERN.removeprefix("^").removesuffix("$"))


def expected_job_revision(if_match: str | None, job_id: str) -> ExpectedRevision | None:
    """The revision `If-Match` expects job `job_id` at (None when absent)."""
    return expected_revision(if_match, lambda tag: tagged_revision(tag, f"{job_id}#"))


def job_response(
    context: AppContext, job: StoredJob, status_code: int = 200, token: str | None = None
) -> Response:
    """The job as its answer, with its ETag (and its token, once, when just created)."""
    read = Job.of(job, stale_after=context.settings.stale_after)
    body = read if token is None else JobCreated(**read.model_dump(), token=token)
    return model_response(body, status_code=status_code, etag=job_etag(job.job_id, job.revision))


def selector_query(
    selector: Annotated[
        str | None,
        Query(
            description="A Kubernetes label selector: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, "
            "`k notin (a,b)`, `k`, `!k`, comma-separated (all must hold); `status` is the "
            "job's status (`status=running`)."
        ),
    ] = None,
) -> Selector:
    """The `selector` query parameter, parsed; 422 on `query.selector` naming the bad part."""
    try:
        return parse_selector(selector or "")
    except SelectorError as error:
        raise InvalidRequest.at("query.selector", str(error)) from error


SelectorQuery = Annotated[Selector, Depends(selector_query)]


def parse_label_filters(filters: list[str]) -> dict[str, str]:
    """`["team=vision", ...]` → {"team": "vision"}; 422 on `query.label` otherwise."""
    parsed = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key):
            raise InvalidRequest.at("query.label", f"{item!r} is not key=value with a label key")
        try:
            parsed[key] = storable_text(value)
        except ValueError as error:
            raise InvalidRequest.at("query.label", f"the value of {key!r} {error}") from error
    return parsed


@router.put(
    "/{job_id}", response_model=Job, responses=with_etag(200, 201, models={201: JobCreated})
)
def put_job(job_id: JobId, body: JobCreate, context: Context, caller: Caller) -> Response:
    """Create the job (201, with its token, shown once) or answer the existing one unchanged."""
    result = job_service.create_job(context.engine, caller, job_id, body)
    created = result.token is not None
    return job_response(
        context, result.job, status_code=201 if created else 200, token=result.token
    )


@router.get("", response_model=Page[Job])
def list_jobs(
    context: Context,
    caller: Caller,
    selector: SelectorQuery,
    label: Annotated[
        list[str], Query(max_length=32, description="`key=value`, repeatable; all must match.")
    ] = [],  # noqa: B006 - FastAPI copies query defaults
    status: JobStatus | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Jobs by id that match the selector, every `label` and the status."""
    everything = (
        selector & Selector.of_labels(parse_label_filters(label)) & Selector.of_status(status)
    )
    after = decode_cursor(cursor, JOB_ID_PATTERN)
    jobs = job_service.list_jobs(context.engine, caller, everything, after, limit)
    stale_after = context.settings.stale_after
    return model_response(
        page_of(jobs, limit, lambda job: job.job_id, partial(Job.of, stale_after=stale_after))
    )


@router.get("/{job_id}", response_model=Job, responses=with_etag(200))
def get_job(job_id: JobId, context: Context, caller: Caller) -> Response:
    """The job: configuration, current rate, last epoch, engine state."""
    return job_response(context, job_service.get_job(context.engine, caller, job_id))


@router.delete("/{job_id}", status_code=204, response_class=Response)
def delete_job(
    job_id: JobId, context: Context, caller: Caller, if_match: IfMatch = None
) -> Response:
    """Delete a job that is not running, with its history and audit log; its token stops
    working."""
    job_service.delete_job(context.engine, caller, job_id, expected_job_revision(if_match, job_id))
    return Response(status_code=204)


@router.post("/{job_id}/token", response_model=JobToken)
def rotate_job_token(job_id: JobId, context: Context, caller: Caller) -> Response:
    """A new token for the job, shown once; the old one stops working at once."""
    token = job_service.rotate_job_token(context.engine, caller, job_id)
    return model_response(JobToken(job_id=job_id, token=token))


@router.get("/{job_id}/events", response_model=Page[AuditEvent])
def list_events(
    job_id: JobId,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The job's audit log, oldest first."""
    after = decode_int_cursor(cursor)
    events = job_service.list_events(context.engine, caller, job_id, after, limit)
    return model_response(page_of(events, limit, lambda event: event.id, AuditEvent.of))


@schedule_router.delete("/{name}", status_code=204, response_class=Response)
def delete_schedule(
    name: ScheduleName, context: Context, caller: Caller, if_match: IfMatch = None
) -> Response:
    """Remove the schedule; 409 while a running job uses it. The finished and stopped jobs
    on it keep the spec they had, as their own (`schedule` null), with an audit event."""
    job_service.delete_schedule(
        context.engine, caller, name, expected_schedule_revision(if_match, name)
    )
    return Response(status_code=204)
