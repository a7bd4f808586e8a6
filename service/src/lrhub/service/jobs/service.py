"""Use cases on jobs (create, read, list, change, audit log); each function is one transaction
and returns stored records."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lrhub.service.auth.principal import Principal
from lrhub.service.auth.tokens import hash_token, new_job_token
from lrhub.service.catalog import store as catalog_store
from lrhub.service.clock import utc_now
from lrhub.service.errors import Conflict, InvalidChange, NotFound
from lrhub.service.fields import JobStatus
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import AuditAction, Follow, StoredEvent, StoredJob
from lrhub.service.jobs.pending import with_schedule_pending
from lrhub.service.jobs.schemas import JobCreate
from lrhub.service.jobs.selectors import Selector
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.jobs.store import selector_condition
from lrhub.service.metrics.prometheus import MAX_JOB_RATE_SERIES, FleetCounts
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


def schedule_choice(
    connection: Connection,
    schedule: str | None,
    spec_given: bool,
    follow: Follow | None,
) -> dict[str, Any]:
    """Columns for a named schedule reference or (with `spec_given`) an inline spec (the rule
    of creation and of every change)."""
    if schedule is not None:
        stored = catalog_store.resolve_reference(connection, schedule, share_lock=True)
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


def require_one_schedule(schedule: str | None, spec_given: bool, *, required: bool) -> None:
    """InvalidChange unless at most one of a schedule and a spec is given (exactly one if
    `required`)."""
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
        principal.require_owner(existing.creator_token)
        return PutJobResult(job=existing, token=None)
    principal.require_creator()
    require_one_schedule(body.schedule, body.spec is not None, required=True)
    token = new_job_token()
    try:
        with write_transaction(engine) as connection:
            choice = schedule_choice(connection, body.schedule, body.spec is not None, body.follow)
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
                creator_token=principal.token_id,
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
        principal.require_owner(existing.creator_token)
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
    with read_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        principal.require_owner(job.creator_token)
        return shown(connection, [job])[0]


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
        jobs = job_store.list_jobs(connection, where=condition, after=after, limit=limit)
        return shown(connection, jobs)


def shown(connection: Connection, jobs: list[StoredJob]) -> list[StoredJob]:
    """The jobs as every answer shows them: with the pending mark of a newer version of the
    schedule each follows (`with_schedule_pending`)."""
    names = {job.schedule_name for job in jobs if job.follow == Follow.LATEST and job.schedule_name}
    latest = catalog_store.latest_version_numbers(connection, names)
    return [with_schedule_pending(job, latest.get(job.schedule_name or "", 0)) for job in jobs]


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

    Several replicas may purge at once: a job another one deleted first is simply gone. A job
    that another replica reopens or hears from between the selection and the delete is kept:
    the delete checks the rule again on the row itself.
    """
    cutoff = utc_now() - older_than
    with write_transaction(engine) as connection:
        selected = job_store.finished_job_ids_idle_since(connection, cutoff)
        expired = [
            job_id
            for job_id in selected
            if job_store.delete_if_idle_and_finished(connection, job_id, cutoff)
        ]
    if expired:
        logger.info("retention: deleted %d finished jobs: %s", len(expired), ", ".join(expired))
    return expired


def delete_schedule(
    engine: Engine,
    principal: Principal,
    name: str,
    expected_revision: ExpectedRevision | None,
) -> None:
    """Remove `name` and its versions; Conflict while a running job uses it.

    The finished and stopped jobs on it are detached in the same transaction: each keeps the
    spec it had as its own inline spec (`schedule` null, `follow: pinned`), with an audit
    event, so none of them follows a schedule that no longer exists, even when a decision
    reopens it, and a new schedule of the same name is a new schedule no old job follows.
    """
    principal.require_operator()
    with write_transaction(engine) as connection:
        latest = catalog_store.latest_version_number(connection, name, lock=True)
        if latest is None:
            raise NotFound(f"there is no schedule {name!r}")
        require_revision(expected_revision, latest, f"schedule {name!r}")
        using = job_store.jobs_using_schedule(connection, name)
        running = [job.job_id for job in using if job.status == JobStatus.RUNNING]
        if running:
            raise Conflict(
                f"schedule {name!r} is used by {len(running)} running job(s) "
                f"({', '.join(running[:5])}); switch or stop them first"
            )
        for job in using:
            # updated_at is kept: detaching is no sign of life, retention still counts from
            # the job's own last change.
            detached = job_store.changed(
                job,
                schedule_name=None,
                schedule_version=None,
                follow=Follow.PINNED,
                revision=job.revision + 1,
            )
            job_store.update_job(connection, detached)
            job_store.record_event(connection, principal.actor, AuditAction.UPDATE, job, detached)
        catalog_store.delete_schedule(connection, name)


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
