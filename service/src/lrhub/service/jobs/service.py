"""Use cases on jobs (create, read, list, PATCH, audit log); each function is one transaction."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lrhub.service.auth.tokens import Principal, hash_token, new_job_token
from lrhub.service.catalog.service import parse_reference, resolve_reference
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.errors import Conflict, InvalidInput, NotFound
from lrhub.service.http.etags import check_if_match, job_etag
from lrhub.service.http.paging import decode_cursor, decode_int_cursor, encode_cursor
from lrhub.service.http.schemas import (
    LABEL_KEY_PATTERN,
    EventOut,
    JobCreate,
    JobCreated,
    JobOut,
    JobPatch,
    JobSchedule,
    Page,
)
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.store import StoredJob
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import canonical_text, spec_document

_LABEL_KEY = re.compile(LABEL_KEY_PATTERN.removeprefix("^").removesuffix("$"))
RUNNING = "running"
STOPPED = "stopped"


def job_view(job: StoredJob) -> JobOut:
    """The answer for a stored job."""
    return JobOut(
        job_id=job.job_id,
        status=RUNNING if job.status == RUNNING else STOPPED,
        schedule=JobSchedule(
            name=job.schedule_name,
            version=job.schedule_version,
            follow="latest" if job.follow == "latest" else "pinned",
        ),
        spec=spec_document(job.spec),
        scale=job.scale,
        override=job.override,
        paused=job.paused,
        labels=job.labels,
        clock_origin=job.clock_origin,
        last_epoch=job.last_epoch,
        learning_rate=job.learning_rate,
        state=job.state,
        created_at=as_utc(job.created_at),
        updated_at=as_utc(job.updated_at),
    )


def etag_of(job: JobOut, revision: int) -> str:
    """The ETag of a job answer."""
    return job_etag(job.job_id, revision)


def audit_snapshot(job: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration an audit event records before and after a change."""
    return {
        "status": job["status"],
        "schedule": {
            "name": job["schedule_name"],
            "version": job["schedule_version"],
            "follow": job["follow"],
        },
        "spec": spec_document(job["spec"]),
        "scale": job["scale"],
        "override": job["override"],
        "paused": job["paused"],
        "labels": job["labels"],
        "clock_origin": job["clock_origin"],
    }


def record_event(
    connection: Connection,
    job_id: str,
    actor: str,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
) -> None:
    """Append one audit event for a job."""
    job_store.insert_event(
        connection,
        {
            "job_id": job_id,
            "at": utc_now(),
            "actor": actor,
            "action": action,
            "before": audit_snapshot(before) if before is not None else None,
            "after": audit_snapshot(after),
        },
    )


def _schedule_choice(
    connection: Connection,
    schedule: str | None,
    spec_given: bool,
    follow: str | None,
) -> dict[str, Any]:
    """Columns for a named schedule reference or (with `spec_given`) an inline spec."""
    if schedule is not None:
        stored = resolve_reference(connection, schedule, "body.schedule")
        pinned_version = parse_reference(schedule)[1] is not None
        return {
            "schedule_name": stored.name,
            "schedule_version": stored.version,
            "spec": stored.spec,
            "follow": follow or ("pinned" if pinned_version else "latest"),
        }
    if follow == "latest" and spec_given:
        raise InvalidInput.field("body.follow", "an inline spec cannot follow 'latest'")
    return {"schedule_name": None, "schedule_version": None, "follow": "pinned"}


def _exactly_one_schedule(schedule: str | None, spec_given: bool, *, required: bool) -> None:
    if schedule is not None and spec_given:
        raise InvalidInput.field("body.spec", "give either schedule or spec, not both")
    if required and schedule is None and not spec_given:
        raise InvalidInput.field("body.schedule", "give a schedule reference or an inline spec")


def create_job(
    engine: Engine, principal: Principal, job_id: str, body: JobCreate
) -> tuple[JobOut, int, bool]:
    """Create the job, or answer the existing one unchanged; (answer, revision, created).

    Only the answer that created the job carries its token (a JobCreated).
    """
    principal.require_job(job_id)
    existing = _existing_job(engine, job_id)
    if existing is not None:
        return existing
    principal.require_admin()
    _exactly_one_schedule(body.schedule, body.spec is not None, required=True)
    token = new_job_token()
    try:
        with write_transaction(engine) as connection:
            choice = _schedule_choice(connection, body.schedule, body.spec is not None, body.follow)
            if body.spec is not None:
                choice["spec"] = canonical_text(body.spec)
            now = utc_now()
            values = {
                "job_id": job_id,
                "token_hash": hash_token(token),
                "status": RUNNING,
                **choice,
                "scale": body.scale,
                "override": None,
                "paused": False,
                "held_rate": None,
                "labels": dict(body.labels),
                "clock_origin": 0,
                "last_epoch": None,
                "learning_rate": None,
                "state": None,
                "revision": 0,
                "created_at": now,
                "updated_at": now,
            }
            job_store.insert_job(connection, values)
            record_event(connection, job_id, principal.actor, "create", None, values)
    except IntegrityError:
        # A concurrent PUT (another pod, another server) created it first: answer that one.
        existing = _existing_job(engine, job_id)
        if existing is None:
            raise
        return existing
    view = job_view(StoredJob(**values))
    return JobCreated(**view.model_dump(), token=token), 0, True


def _existing_job(engine: Engine, job_id: str) -> tuple[JobOut, int, bool] | None:
    with read_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id)
    if job is None:
        return None
    return job_view(job), job.revision, False


def get_job(engine: Engine, principal: Principal, job_id: str) -> tuple[JobOut, int]:
    """The job and its revision."""
    principal.require_job(job_id)
    with read_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id)
    if job is None:
        raise NotFound(f"there is no job {job_id!r}")
    return job_view(job), job.revision


def parse_label_filters(filters: list[str]) -> dict[str, str]:
    """`["team=vision", ...]` → {"team": "vision"}; 422 on `query.label` otherwise."""
    parsed = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or not _LABEL_KEY.fullmatch(key):
            raise InvalidInput.field("query.label", f"{item!r} is not key=value with a label key")
        parsed[key] = value
    return parsed


def list_jobs(
    engine: Engine,
    principal: Principal,
    labels: Mapping[str, str],
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page[JobOut]:
    """A page of jobs by id, filtered by labels and status."""
    principal.require_admin()
    after = decode_cursor(cursor)
    with read_transaction(engine) as connection:
        rows = job_store.list_jobs(
            connection, labels=labels, status=status, after=after, limit=limit
        )
    next_cursor = encode_cursor(rows[-1].job_id) if len(rows) == limit else None
    return Page[JobOut](items=[job_view(row) for row in rows], next_cursor=next_cursor)


def _patched_values(connection: Connection, job: StoredJob, body: JobPatch) -> dict[str, Any]:
    """The columns a PATCH changes (see docs/http-api.md "Jobs")."""
    given = body.model_fields_set
    if job.status == STOPPED and given - {"labels"}:
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
        if body.follow == "latest" and job.schedule_name is None:
            raise InvalidInput.field("body.follow", "an inline spec cannot follow 'latest'")
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
        changes["status"] = STOPPED
    if body.labels is not None:
        changes["labels"] = dict(body.labels)
    return changes


def patch_job(
    engine: Engine, principal: Principal, job_id: str, body: JobPatch, if_match: str | None
) -> tuple[JobOut, int]:
    """Change a job from its next decided epoch on, with one audit event; (answer, revision)."""
    principal.require_admin()
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        check_if_match(if_match, job_etag(job_id, job.revision))
        changes = _patched_values(connection, job, body)
        if not body.model_fields_set:
            return job_view(job), job.revision
        changes |= {"revision": job.revision + 1, "updated_at": utc_now()}
        job_store.update_job(connection, job_id, changes)
        before = asdict(job)
        after = before | changes
        action = "stop" if changes.get("status") == STOPPED else "update"
        record_event(connection, job_id, principal.actor, action, before, after)
    updated = StoredJob(**after)
    return job_view(updated), updated.revision


def list_events(
    engine: Engine, principal: Principal, job_id: str, cursor: str | None, limit: int
) -> Page[EventOut]:
    """A page of the job's audit log, oldest first."""
    principal.require_admin()
    after = decode_int_cursor(cursor)
    with read_transaction(engine) as connection:
        if job_store.get_job(connection, job_id) is None:
            raise NotFound(f"there is no job {job_id!r}")
        rows = job_store.list_events(connection, job_id, after_id=after, limit=limit)
    items = [EventOut.model_validate(asdict(row) | {"at": as_utc(row.at)}) for row in rows]
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page[EventOut](items=items, next_cursor=next_cursor)
