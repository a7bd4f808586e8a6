"""Use cases on jobs (create, read, list, change, audit log); each function is one transaction
and returns stored records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lrhub.service.auth.principal import Principal
from lrhub.service.auth.tokens import hash_token, new_job_token
from lrhub.service.catalog import store as catalog_store
from lrhub.service.clock import utc_now
from lrhub.service.errors import Conflict, InvalidChange, NotFound, TooManyMatches
from lrhub.service.http.etags import check_if_match, job_etag
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.schemas import JobCreate, JobPatch
from lrhub.service.jobs.selectors import Selector, selector_condition
from lrhub.service.jobs.stale import JobRead, count_stale, read_job, read_jobs
from lrhub.service.jobs.store import (
    AuditAction,
    BulkJobResult,
    BulkOutcome,
    BulkResult,
    Follow,
    JobStatus,
    StoredEvent,
    StoredJob,
)
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import canonical_text


@dataclass(frozen=True)
class PutJobResult:
    """The job a PUT answers, and its token when this PUT created it (shown once)."""

    job: JobRead
    token: str | None


def _schedule_choice(
    connection: Connection,
    schedule: str | None,
    spec_given: bool,
    follow: Follow | None,
) -> dict[str, Any]:
    """Columns for a named schedule reference or (with `spec_given`) an inline spec."""
    if schedule is not None:
        stored = catalog_store.resolve_reference(connection, schedule)
        pinned_version = catalog_store.parse_reference(schedule)[1] is not None
        return {
            "schedule_name": stored.name,
            "schedule_version": stored.version,
            "spec": stored.spec,
            "follow": follow or (Follow.PINNED if pinned_version else Follow.LATEST),
        }
    if follow == Follow.LATEST and spec_given:
        raise InvalidChange("follow", "an inline spec cannot follow 'latest'")
    return {"schedule_name": None, "schedule_version": None, "follow": Follow.PINNED}


def _exactly_one_schedule(schedule: str | None, spec_given: bool, *, required: bool) -> None:
    if schedule is not None and spec_given:
        raise InvalidChange("spec", "give either schedule or spec, not both")
    if required and schedule is None and not spec_given:
        raise InvalidChange("schedule", "give a schedule reference or an inline spec")


def _read_job(engine: Engine, job_id: str, stale_after: timedelta) -> JobRead | None:
    with read_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id)
        return read_job(connection, job, stale_after) if job is not None else None


def create_job(
    engine: Engine, principal: Principal, job_id: str, body: JobCreate, stale_after: timedelta
) -> PutJobResult:
    """Create the job, or answer the existing one unchanged (a restarted pod PUTs again)."""
    principal.require_job(job_id)
    existing = _read_job(engine, job_id, stale_after)
    if existing is not None:
        return PutJobResult(job=existing, token=None)
    principal.require_admin()
    _exactly_one_schedule(body.schedule, body.spec is not None, required=True)
    token = new_job_token()
    try:
        with write_transaction(engine) as connection:
            choice = _schedule_choice(connection, body.schedule, body.spec is not None, body.follow)
            if body.spec is not None:
                choice["spec"] = canonical_text(body.spec)
            now = utc_now()
            job = StoredJob(
                job_id=job_id,
                token_hash=hash_token(token),
                status=JobStatus.RUNNING,
                **choice,
                scale=body.scale,
                override=None,
                paused=False,
                held_rate=None,
                labels=dict(body.labels),
                clock_origin=0,
                last_epoch=None,
                learning_rate=None,
                state=None,
                revision=0,
                created_at=now,
                updated_at=now,
                last_seen_at=None,
            )
            job_store.insert_job(connection, job)
            job_store.record_event(connection, principal.actor, AuditAction.CREATE, None, job)
    except IntegrityError:
        # A concurrent PUT (another pod, another server) created it first: answer that one.
        existing = _read_job(engine, job_id, stale_after)
        if existing is None:
            raise
        return PutJobResult(job=existing, token=None)
    return PutJobResult(job=JobRead(job=job, stale=False), token=token)


def get_job(engine: Engine, principal: Principal, job_id: str, stale_after: timedelta) -> JobRead:
    """The job, and whether it is stale."""
    principal.require_job(job_id)
    job = _read_job(engine, job_id, stale_after)
    if job is None:
        raise NotFound(f"there is no job {job_id!r}")
    return job


def list_jobs(
    engine: Engine,
    principal: Principal,
    selector: Selector,
    after: str | None,
    limit: int,
    stale_after: timedelta,
) -> list[JobRead]:
    """Jobs by id after the id `after` that `selector` matches, and whether each is stale."""
    principal.require_admin()
    with read_transaction(engine) as connection:
        condition = selector_condition(selector)
        stored = job_store.list_jobs(connection, where=condition, after=after, limit=limit)
        return read_jobs(connection, stored, stale_after)


def _patched(connection: Connection, job: StoredJob, body: JobPatch) -> dict[str, Any]:
    """The columns a PATCH changes (see docs/http-api.md "Jobs")."""
    given = body.model_fields_set
    if job.status == JobStatus.STOPPED and given - {"labels"}:
        raise Conflict(f"job {job.job_id!r} is stopped; only its labels can change")
    _exactly_one_schedule(body.schedule, body.spec is not None, required=False)
    changes: dict[str, Any] = {}
    if body.schedule is not None or body.spec is not None:
        changes.update(
            _schedule_choice(connection, body.schedule, body.spec is not None, body.follow)
        )
        if body.spec is not None:
            changes["spec"] = canonical_text(body.spec)
    elif body.follow is not None:
        if body.follow == Follow.LATEST and job.schedule_name is None:
            raise InvalidChange("follow", "an inline spec cannot follow 'latest'")
        changes["follow"] = body.follow
    schedule_switched = "spec" in changes and (
        changes["spec"] != job.spec or changes["schedule_version"] != job.schedule_version
    )
    if body.clock == "restart":
        changes["clock_origin"] = job.last_epoch + 1 if job.last_epoch is not None else 0
    elif body.clock == "continue" or schedule_switched:
        changes["clock_origin"] = 0
    if schedule_switched or body.clock is not None:
        changes["state"] = None  # a new schedule or clock starts with fresh engine state
    if body.scale is not None:
        changes["scale"] = body.scale
    if "override" in given:
        changes["override"] = body.override
    if body.paused is not None:
        changes["paused"] = body.paused
        changes["held_rate"] = job.learning_rate if body.paused else None
    if body.status is not None:
        changes["status"] = JobStatus.STOPPED
    if body.labels is not None:
        changes["labels"] = dict(body.labels)
    return changes


def _apply_patch(
    connection: Connection,
    actor: str,
    job: StoredJob,
    body: JobPatch,
    *,
    change_id: str | None = None,
    dry_run: bool = False,
) -> StoredJob:
    """The row-locked `job` after `body` (the PATCH rule of `_patched`), stored with its audit
    event unless `dry_run`."""
    changes = _patched(connection, job, body)
    if not body.model_fields_set:
        return job
    updated = replace(job, **changes, revision=job.revision + 1, updated_at=utc_now())
    if dry_run:
        return updated
    job_store.update_job(connection, updated)
    stopped = changes.get("status") == JobStatus.STOPPED
    action = AuditAction.STOP if stopped else AuditAction.UPDATE
    job_store.record_event(connection, actor, action, job, updated, change_id=change_id)
    return updated


def patch_job(
    engine: Engine,
    principal: Principal,
    job_id: str,
    body: JobPatch,
    if_match: str | None,
    stale_after: timedelta,
) -> JobRead:
    """Change a job from its next decided epoch on, with one audit event; the changed job."""
    principal.require_admin()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        check_if_match(if_match, job_etag(job_id, job.revision))
        updated = _apply_patch(connection, principal.actor, job, body)
        return read_job(connection, updated, stale_after)


@dataclass(frozen=True)
class FleetCounts:
    """Jobs by status across the whole database, and how many running ones are stale."""

    by_status: dict[str, int]
    stale: int


def fleet_counts(engine: Engine, stale_after: timedelta) -> FleetCounts:
    """The fleet's job counts now (what `/metrics` reports, the same from every process)."""
    with read_transaction(engine) as connection:
        by_status = {status.value: 0 for status in JobStatus} | job_store.count_by_status(
            connection
        )
        return FleetCounts(by_status=by_status, stale=count_stale(connection, stale_after))


def _bulk_job(
    connection: Connection,
    actor: str,
    job_id: str,
    selector: Selector,
    body: JobPatch,
    change_id: str,
    dry_run: bool,
) -> BulkJobResult:
    """One job of a bulk change, in its own transaction: locked, matched again, changed."""
    condition = selector_condition(selector)
    job = job_store.get_job(connection, job_id, lock=not dry_run, where=condition)
    if job is None:
        return BulkJobResult(
            job_id, None, None, BulkOutcome.NO_LONGER_MATCHES, "changed or deleted meanwhile"
        )
    before = job_store.audit_snapshot(job)
    try:
        updated = _apply_patch(connection, actor, job, body, change_id=change_id, dry_run=dry_run)
    except (Conflict, InvalidChange, NotFound) as error:
        return BulkJobResult(job_id, before, before, BulkOutcome.REFUSED, error.detail)
    after = job_store.audit_snapshot(updated)
    outcome = BulkOutcome.CHANGED if after != before else BulkOutcome.UNCHANGED
    return BulkJobResult(job_id, before, after, outcome)


def bulk_patch(
    engine: Engine,
    principal: Principal,
    selector: Selector,
    body: JobPatch,
    *,
    dry_run: bool,
    limit: int | None,
    after: str | None,
    bulk_max: int,
) -> BulkResult:
    """Apply one PATCH body to every job `selector` matches (after the id `after`), each job in
    its own transaction with the single-job rule; `dry_run` answers the same and stores nothing.

    More matches than `bulk_max` are refused unless `limit` says how many of them, in id
    order, may change; the answer then says where to continue. The selector must not be empty
    and `limit` must not exceed `bulk_max` (the route checks both).
    """
    principal.require_admin()
    condition = selector_condition(selector)
    with read_transaction(engine) as connection:
        if body.schedule is not None:
            catalog_store.resolve_reference(connection, body.schedule)  # unknown: 404 at once
        matched = job_store.count_jobs(connection, where=condition, after=after)
        if limit is None and matched > bulk_max:
            raise TooManyMatches(
                f"the selector matches {matched} jobs, more than LRHUB_BULK_MAX={bulk_max}; "
                "narrow it, or pass limit= to change that many (in id order) and continue "
                "with the answer's next_cursor"
            )
        page = limit if limit is not None else bulk_max
        ids = job_store.list_job_ids(connection, where=condition, after=after, limit=page)
    change_id = str(uuid.uuid4())
    transaction = read_transaction if dry_run else write_transaction
    results = []
    for job_id in ids:
        with transaction(engine) as connection:
            results.append(
                _bulk_job(connection, principal.actor, job_id, selector, body, change_id, dry_run)
            )
    next_after = ids[-1] if ids and matched > len(ids) else None
    return BulkResult(
        matched=matched,
        change_id=None if dry_run else change_id,
        jobs=results,
        next_after=next_after,
    )


def list_events(
    engine: Engine, principal: Principal, job_id: str, after: int | None, limit: int
) -> list[StoredEvent]:
    """The job's audit events after the id `after`, oldest first."""
    principal.require_admin()
    with read_transaction(engine) as connection:
        if job_store.get_job(connection, job_id) is None:
            raise NotFound(f"there is no job {job_id!r}")
        return list(job_store.list_events(connection, job_id, after_id=after, limit=limit))
