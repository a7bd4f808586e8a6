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
from lrhub.service.http.etags import check_if_match, job_etag
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.schemas import JobCreate, JobPatch
from lrhub.service.jobs.store import (
    AuditAction,
    Follow,
    JobStatus,
    StoredEvent,
    StoredJob,
)
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import canonical_text

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
    labels: dict[str, str],
    status: JobStatus | None,
    after: str | None,
    limit: int,
) -> list[StoredJob]:
    """Jobs by id after the id `after`, filtered by labels and status."""
    principal.require_viewer()
    with read_transaction(engine) as connection:
        return job_store.list_jobs(
            connection, labels=labels, status=status, after=after, limit=limit
        )


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


def patch_job(
    engine: Engine, principal: Principal, job_id: str, body: JobPatch, if_match: str | None
) -> StoredJob:
    """Change a job from its next decided epoch on, with one audit event; the changed job.

    A job's own token may report how its training ended (`completed`, `failed`); that counts as
    the job having reported. Everything else is for admins.
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
        check_if_match(if_match, job_etag(job_id, job.revision))
        changes = _patched(connection, job, body)
        now = utc_now()
        last_seen_at = now if reported else job.last_seen_at
        if not changes:
            if reported:
                job = job_store.changed(job, last_seen_at=last_seen_at)
                job_store.update_job(connection, job)
            return job
        updated = job_store.changed(
            job, **changes, last_seen_at=last_seen_at, revision=job.revision + 1, updated_at=now
        )
        job_store.update_job(connection, updated)
        job_store.record_event(connection, principal.actor, _action(changes), job, updated)
    return updated


def _action(changes: dict[str, Any]) -> AuditAction:
    status = changes.get("status")
    if status == JobStatus.STOPPED:
        return AuditAction.STOP
    return AuditAction.UPDATE if status is None else AuditAction.STATUS


def delete_job(engine: Engine, principal: Principal, job_id: str, if_match: str | None) -> None:
    """Delete a job that is not running, with its decisions and audit events."""
    principal.require_operator()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        check_if_match(if_match, job_etag(job_id, job.revision))
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
