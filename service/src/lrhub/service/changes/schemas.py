"""Response bodies of changes: a bulk change's answer and a change's record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lrhub.service.changes.model import (
    BulkOutcome,
    ChangeResult,
    ChangeState,
    JobChange,
    StoredChange,
)
from lrhub.service.clock import as_utc
from lrhub.service.http.paging import Page


class BulkJob(BaseModel):
    """One matching job of a bulk change: its configuration (as audit events record it) before
    and after, and what happened to it (`changed` in a dry run: would change)."""

    job_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: BulkOutcome
    detail: str | None

    @classmethod
    def of(cls, job: JobChange) -> BulkJob:
        """The answer for what a change did to one job."""
        return cls(
            job_id=job.job_id,
            before=job.before,
            after=job.after,
            outcome=job.outcome,
            detail=job.detail,
        )


class BulkChange(BaseModel):
    """The answer of `PATCH /v1/jobs?selector=`: how many jobs matched, the `change_id` of its
    record (`/v1/changes/{change_id}`) and of each audit event it wrote (null for a dry run),
    each job, and `next_cursor` when `limit` left matching jobs for another request."""

    matched: int
    change_id: str | None
    dry_run: bool
    jobs: list[BulkJob]
    next_cursor: str | None

    @classmethod
    def of(cls, result: ChangeResult, *, dry_run: bool, next_cursor: str | None) -> BulkChange:
        """The answer for a bulk change's result."""
        return cls(
            matched=result.matched,
            change_id=result.change_id,
            dry_run=dry_run,
            jobs=[BulkJob.of(job) for job in result.jobs],
            next_cursor=next_cursor,
        )


class Change(BaseModel):
    """A change's record: who asked for what and when, of which job (`job_id`) or jobs
    (`selector`), and what it did to each job, by job id (`next_cursor` pages `jobs`). Written
    before any job changed; a change cut short (`interrupted`, or `applying` when the database
    went away) lists exactly the jobs it changed."""

    change_id: str
    at: datetime
    actor: str
    job_id: str | None
    selector: str | None
    body: dict[str, Any] = Field(description="The PATCH body, the fields as given.")
    state: ChangeState
    matched: int = Field(description="How many jobs the change set out to change.")
    jobs: list[BulkJob]
    next_cursor: str | None

    @classmethod
    def of(cls, change: StoredChange, jobs: Page[BulkJob]) -> Change:
        """The answer for a stored change and a page of its jobs."""
        return cls(
            change_id=change.change_id,
            at=as_utc(change.at),
            actor=change.actor,
            job_id=change.job_id,
            selector=change.selector,
            body=change.body,
            state=change.state,
            matched=change.matched,
            jobs=jobs.items,
            next_cursor=jobs.next_cursor,
        )
