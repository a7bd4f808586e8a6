"""`/v1/changes`: the record of every change of one job or many, and the two ways to change jobs
(`PATCH /v1/jobs/{job_id}`, `PATCH /v1/jobs?selector=`), each writing such a record."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Query, Response

from lrhub.service.changes import service as change_service
from lrhub.service.changes.schemas import BulkChange, BulkJob, Change
from lrhub.service.context import Caller, Context
from lrhub.service.fields import JOB_ID_PATTERN
from lrhub.service.http.etags import IfMatch
from lrhub.service.http.openapi import with_etag
from lrhub.service.http.paging import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    page_of,
)
from lrhub.service.http.problems import fields_in
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.jobs.routes import JobId, SelectorQuery, expected_job_revision, job_response
from lrhub.service.jobs.schemas import Job, JobPatch

router = v1_router("/v1/changes", "changes")
# Changing jobs is the jobs API's (`PATCH /v1/jobs...`); every such change is recorded here.
job_router = v1_router("/v1/jobs", "jobs")

ChangeId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{36}$")]


@router.get("/{change_id}", response_model=Change)
def get_change(
    change_id: ChangeId,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """A change: who, when, of which job or selector, its body, and what it did to each job
    (before and after, the outcome), by job id."""
    after = decode_cursor(cursor, JOB_ID_PATTERN)
    change, jobs = change_service.get_change(context.engine, caller, change_id, after, limit)
    return model_response(
        Change.of(change, page_of(jobs, limit, lambda job: job.job_id, BulkJob.of))
    )


@job_router.patch("", response_model=BulkChange)
def bulk_patch(
    body: JobPatch,
    context: Context,
    caller: Caller,
    selector: SelectorQuery,
    dry_run: Annotated[
        bool, Query(description="Answer what would change and change nothing.")
    ] = False,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description="Change at most this many matching jobs (in id order), even when the "
            "selector matches more than LRHUB_BULK_MAX; at most LRHUB_BULK_MAX.",
        ),
    ] = None,
    cursor: Cursor = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="A key of the client's choosing: a retry with the same key (after a "
            "503, a timeout) resumes that change, changing only the jobs it did not reach.",
        ),
    ] = None,
) -> Response:
    """Apply one PATCH body to every job the selector matches, each job atomically. With an
    `Idempotency-Key`, retrying is safe: the retry resumes the same change."""
    with fields_in("header", "idempotency-key"), fields_in("query", "selector", "limit"):
        result = change_service.change_jobs(
            context.engine,
            caller,
            selector,
            body,
            dry_run=dry_run,
            limit=limit,
            after=decode_cursor(cursor, JOB_ID_PATTERN),
            bulk_max=context.settings.bulk_max,
            idempotency_key=None if dry_run else idempotency_key,
        )
    next_cursor = encode_cursor(result.next_after) if result.next_after is not None else None
    return model_response(BulkChange.of(result, dry_run=dry_run, next_cursor=next_cursor))


@job_router.patch("/{job_id}", response_model=Job, responses=with_etag(200))
def patch_job(
    job_id: JobId, body: JobPatch, context: Context, caller: Caller, if_match: IfMatch = None
) -> Response:
    """Change the job from its next decided epoch on; one audit event, and a change record
    (`/v1/changes/{change_id}`) that the event names.

    A job token may only report its own job's end: `{"status": "completed"}` or `"failed"`.
    """
    job, _ = change_service.change_job(
        context.engine, caller, job_id, body, expected_job_revision(if_match, job_id)
    )
    return job_response(context, job)
