"""Use cases on jobs (create, read, list, change, audit log); each function is one transaction
and returns stored records."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lrhub.service.auth.principal import Principal
from lrhub.service.auth.tokens import hash_token, new_job_token
from lrhub.service.catalog import store as catalog_store
from lrhub.service.clock import utc_now
from lrhub.service.errors import Conflict, InvalidChange, NotFound, TooManyMatches
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import (
    MAX_JOB_RATE_SERIES,
    AuditAction,
    BulkJobResult,
    BulkOutcome,
    BulkResult,
    FleetCounts,
    Follow,
    JobStatus,
    StoredEvent,
    StoredJob,
)
from lrhub.service.jobs.schemas import JobCreate, JobPatch
from lrhub.service.jobs.selectors import Selector
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.jobs.store import selector_condition
from lrhub.service.revisions import ExpectedRevision, require_revision
from lrhub.service.storage.database import (
    read_transaction,
    single_statement_read,
    write_transaction,
)
from lrhub.service.stored_specs import canonical_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PutJobResult:
    """The job a PUT answers, and its token when this PUT created it (shown once)."""

    job: StoredJob
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


def _read_job(engine: Engine, job_id: str) -> StoredJob | None:
    with read_transaction(engine) as connection:
        return job_store.get_job(connection, job_id)


def create_job(engine: Engine, principal: Principal, job_id: str, body: JobCreate) -> PutJobResult:
    """Create the job, or answer the existing one unchanged (a restarted pod PUTs again)."""
    principal.require_job(job_id, change=True)
    existing = _read_job(engine, job_id)
    if existing is not None:
        principal.require_owner(existing.created_by)
        return PutJobResult(job=existing, token=None)
    principal.require_creator()
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
                row_version=0,
                created_by=principal.actor,
                last_seen_at=None,
                epoch_intervals=None,
            )
            job_store.insert_job(connection, job)
            job_store.record_event(connection, principal.actor, AuditAction.CREATE, None, job)
    except IntegrityError:
        # A concurrent PUT (another pod, another server) created it first: answer that one.
        existing = _read_job(engine, job_id)
        if existing is None:
            raise
        principal.require_owner(existing.created_by)
        return PutJobResult(job=existing, token=None)
    return PutJobResult(job=job, token=token)


def job_id_of_token(engine: Engine, token_hash: str) -> str | None:
    """The job whose token hashes to `token_hash` (what authentication looks up)."""
    with single_statement_read(engine) as connection:
        job = job_store.find_by_token_hash(connection, token_hash)
    return job.job_id if job is not None else None


def get_job(engine: Engine, principal: Principal, job_id: str) -> StoredJob:
    """The job."""
    principal.require_job(job_id, change=False)
    job = _read_job(engine, job_id)
    if job is None:
        raise NotFound(f"there is no job {job_id!r}")
    principal.require_owner(job.created_by)
    return job


def list_jobs(
    engine: Engine,
    principal: Principal,
    selector: Selector,
    after: str | None,
    limit: int,
) -> list[StoredJob]:
    """Jobs by id after the id `after` that `selector` matches."""
    principal.require_viewer()
    with read_transaction(engine) as connection:
        condition = selector_condition(selector)
        return job_store.list_jobs(connection, where=condition, after=after, limit=limit)


# What a job token may report about its own job: how its training ended.
REPORTED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})


def _is_status_report(body: JobPatch) -> bool:
    return body.model_fields_set == {"status"} and body.status in REPORTED_STATUSES


def _status_change(job: StoredJob, body: JobPatch) -> JobStatus | None:
    """The status a PATCH sets, if any. A reported end never overrides an operator's stop: the
    stop is why the training ended."""
    if body.status is None or body.status == job.status:
        return None
    if job.status == JobStatus.STOPPED and _is_status_report(body):
        return None
    return body.status


def _patched(connection: Connection, job: StoredJob, body: JobPatch) -> dict[str, Any]:
    """The columns a PATCH changes (see docs/http-api.md "Jobs")."""
    given = body.model_fields_set
    resumed = body.status == JobStatus.RUNNING
    if job.status == JobStatus.STOPPED and not resumed and given - {"labels", "status"}:
        raise Conflict(
            f"job {job.job_id!r} is stopped; only its labels can change until it is resumed "
            "(status: running)"
        )
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
    status = _status_change(job, body)
    if status is not None:
        changes["status"] = status
    if body.labels is not None:
        changes["labels"] = dict(body.labels)
    return changes


def _apply_patch(
    connection: Connection,
    actor: str,
    job: StoredJob,
    body: JobPatch,
    *,
    reported: bool = False,
    change_id: str | None = None,
    dry_run: bool = False,
) -> StoredJob:
    """The row-locked `job` after `body` (the PATCH rule of `_patched`), stored with its audit
    event unless `dry_run`. A status report (`reported`) counts as the job having reported."""
    changes = _patched(connection, job, body)
    now = utc_now()
    last_seen_at = now if reported else job.last_seen_at
    if not changes:
        if reported and not dry_run:
            job = job_store.changed(job, last_seen_at=last_seen_at)
            job_store.update_job(connection, job)
        return job
    updated = job_store.changed(
        job, **changes, last_seen_at=last_seen_at, revision=job.revision + 1, updated_at=now
    )
    if dry_run:
        return updated
    job_store.update_job(connection, updated)
    job_store.record_event(connection, actor, _action(changes), job, updated, change_id=change_id)
    return updated


def _action(changes: dict[str, Any]) -> AuditAction:
    status = changes.get("status")
    if status == JobStatus.STOPPED:
        return AuditAction.STOP
    return AuditAction.UPDATE if status is None else AuditAction.STATUS


def patch_job(
    engine: Engine,
    principal: Principal,
    job_id: str,
    body: JobPatch,
    expected_revision: ExpectedRevision | None,
) -> StoredJob:
    """Change a job from its next decided epoch on, with one audit event; the changed job.

    A job's own token may report how its training ended (`completed`, `failed`); that counts as
    the job having reported. Everything else is for operators.
    """
    reported = _is_status_report(body)
    if reported:
        principal.require_job(job_id, change=True)
    else:
        principal.require_operator()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        if reported:
            principal.require_owner(job.created_by)
        require_revision(expected_revision, job.revision, f"job {job_id!r}")
        return _apply_patch(connection, principal.actor, job, body, reported=reported)


def delete_job(
    engine: Engine,
    principal: Principal,
    job_id: str,
    expected_revision: ExpectedRevision | None,
) -> None:
    """Delete a job that is not running, with its decisions and audit events."""
    principal.require_operator()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        require_revision(expected_revision, job.revision, f"job {job_id!r}")
        if job.status == JobStatus.RUNNING:
            raise Conflict(
                f"job {job_id!r} is running; stop it (status: stopped) before deleting it"
            )
        job_store.delete_job(connection, job_id)
    logger.info("job %s deleted by %s", job_id, principal.actor)


def purge_finished_jobs(engine: Engine, *, older_than: timedelta) -> list[str]:
    """Delete the completed, failed and stopped jobs idle for longer than `older_than`; their ids.

    Several replicas may purge at once: a job another one deleted first is simply gone.
    """
    with write_transaction(engine) as connection:
        expired = job_store.finished_job_ids_idle_since(connection, utc_now() - older_than)
        for job_id in expired:
            job_store.delete_job(connection, job_id)
    if expired:
        logger.info("retention: deleted %d finished jobs: %s", len(expired), ", ".join(expired))
    return expired


def fleet_counts(engine: Engine, stale_after: timedelta) -> FleetCounts:
    """The fleet's job counts now (what `/metrics` reports, the same from every process)."""
    with read_transaction(engine) as connection:
        by_status = {status.value: 0 for status in JobStatus} | job_store.count_by_status(
            connection
        )
        return FleetCounts(
            by_status=by_status,
            stale=_count_stale(connection, stale_after),
            rates=job_store.running_job_rates(connection, limit=MAX_JOB_RATE_SERIES),
        )


_STALE_CANDIDATE_BATCH = 500


def _count_stale(connection: Connection, stale_after: timedelta) -> int:
    """How many jobs are stale now (`is_stale`), across the whole database.

    A job's threshold is never shorter than `stale_after`, so only the running jobs silent for
    longer can be stale: only those are read, in batches, and judged by the one rule.
    """
    now = utc_now()
    count = 0
    after: str | None = None
    while True:
        batch = job_store.list_running_jobs_silent_since(
            connection, now - stale_after, after=after, limit=_STALE_CANDIDATE_BATCH
        )
        count += sum(is_stale(job, now=now, stale_after=stale_after) for job in batch)
        if len(batch) < _STALE_CANDIDATE_BATCH:
            return count
        after = batch[-1].job_id


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
    principal.require_operator()
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
    principal.require_viewer()
    with read_transaction(engine) as connection:
        if job_store.get_job(connection, job_id) is None:
            raise NotFound(f"there is no job {job_id!r}")
        return list(job_store.list_events(connection, job_id, after_id=after, limit=limit))


def rotate_job_token(engine: Engine, principal: Principal, job_id: str) -> str:
    """Give the job a new token and answer it (shown once); the old token stops working at
    once, on every server, since each request looks its token up in the database."""
    principal.require_operator()
    token = new_job_token()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        job_store.set_token_hash(connection, job_id, hash_token(token))
        job_store.record_event(connection, principal.actor, AuditAction.ROTATE_TOKEN, job, job)
    return token
