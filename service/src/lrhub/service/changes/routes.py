"""`/v1/changes`: the record of every change of one job or many."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from lrhub.service.changes import service as change_service
from lrhub.service.changes.schemas import Change
from lrhub.service.context import Caller, Context
from lrhub.service.fields import JOB_ID_PATTERN
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router

router = v1_router("/v1/changes", "changes")

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
    change = change_service.get_change(context.engine, caller, change_id)
    after = decode_cursor(cursor, JOB_ID_PATTERN)
    jobs = change_service.list_change_jobs(context.engine, caller, change_id, after, limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    next_cursor = encode_cursor(jobs[-1].job_id) if more else None
    return model_response(Change.of(change, jobs, next_cursor))
