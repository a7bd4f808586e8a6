"""Storage of jobs and their audit events (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from lrhub.service.clock import utc_now
from lrhub.service.fields import FINISHED, JobStatus
from lrhub.service.jobs.model import AuditAction, Follow, StoredEvent, StoredJob
from lrhub.service.jobs.selectors import JOB_ID_KEY, STATUS_KEY, Operator, Requirement, Selector
from lrhub.service.storage.tables import events, jobs
from lrhub.service.stored_specs import spec_document


def event_of(row: Mapping[Any, Any]) -> StoredEvent:
    """The audit event in a row of `events`."""
    return StoredEvent(**{**row, "action": AuditAction(row["action"])})


def job_of(row: Mapping[Any, Any]) -> StoredJob:
    """The job in a row of `jobs` (or a query selecting all its columns)."""
    return StoredJob(**{**row, "status": JobStatus(row["status"]), "follow": Follow(row["follow"])})


def _columns(job: StoredJob) -> dict[str, Any]:
    # Plain strings for the enums: database drivers adapt Enum members by name, not value.
    return asdict(job) | {"status": job.status.value, "follow": job.follow.value}


def find_by_token_hash(connection: Connection, token_hash: str) -> StoredJob | None:
    """The job whose token hashes to `token_hash`."""
    row = connection.execute(select(jobs).where(jobs.c.token_hash == token_hash)).mappings().first()
    return job_of(row) if row else None


def set_token_hash(connection: Connection, job_id: str, token_hash: str) -> None:
    """Give the job a new token: the old one stops working."""
    connection.execute(update(jobs).where(jobs.c.job_id == job_id).values(token_hash=token_hash))


def get_job(
    connection: Connection,
    job_id: str,
    *,
    lock: bool = False,
    where: ColumnElement[bool] | None = None,
) -> StoredJob | None:
    """The job (if it also meets `where`), optionally row-locked (PostgreSQL FOR UPDATE) for the
    rest of the transaction."""
    query = select(jobs).where(jobs.c.job_id == job_id, where if where is not None else true())
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    return job_of(row) if row else None


def insert_job(connection: Connection, job: StoredJob) -> None:
    """Store a new job."""
    connection.execute(insert(jobs).values(**_columns(job)))


def changed(job: StoredJob, **changes: Any) -> StoredJob:
    """`job` with `changes`, as the next version of its row."""
    return replace(job, **changes, row_version=job.row_version + 1)


def update_job(connection: Connection, job: StoredJob) -> None:
    """Store every column of `job` that can change after creation (the caller holds the row:
    PostgreSQL `FOR UPDATE` or SQLite `BEGIN IMMEDIATE`)."""
    values = _columns(job)
    for fixed in ("job_id", "token_hash", "created_at", "created_by", "creator_token"):
        del values[fixed]
    connection.execute(update(jobs).where(jobs.c.job_id == job.job_id).values(**values))


def _after(where: ColumnElement[bool], after: str | None) -> ColumnElement[bool]:
    return where if after is None else where & (jobs.c.job_id > after)


def list_jobs(
    connection: Connection, *, where: ColumnElement[bool], after: str | None, limit: int
) -> list[StoredJob]:
    """Jobs meeting `where` (see `jobs.selectors`) ordered by id, after the id `after`."""
    query = select(jobs).where(_after(where, after)).order_by(jobs.c.job_id).limit(limit)
    return [job_of(row) for row in connection.execute(query).mappings()]


def list_job_ids(
    connection: Connection, *, where: ColumnElement[bool], after: str | None, limit: int
) -> list[str]:
    """The ids of the jobs `list_jobs` answers."""
    query = select(jobs.c.job_id).where(_after(where, after)).order_by(jobs.c.job_id).limit(limit)
    return list(connection.execute(query).scalars())


def creators_of(connection: Connection, job_ids: Collection[str]) -> dict[str, str | None]:
    """The creator token (its id; None when an admin or operator created it) of each of
    `job_ids` that exists, by job id: one query for a whole set of jobs."""
    query = select(jobs.c.job_id, jobs.c.creator_token).where(jobs.c.job_id.in_(sorted(job_ids)))
    return {row.job_id: row.creator_token for row in connection.execute(query)}


def count_jobs(connection: Connection, *, where: ColumnElement[bool], after: str | None) -> int:
    """How many jobs after the id `after` meet `where`."""
    query = select(func.count()).select_from(jobs).where(_after(where, after))
    return int(connection.execute(query).scalar_one())


def list_running_jobs_silent_since(
    connection: Connection, since: datetime, *, after: str | None, limit: int
) -> list[StoredJob]:
    """Running jobs with no report (nor creation, if they never reported) since `since`, by id
    after the id `after`."""
    silent_since = func.coalesce(jobs.c.last_seen_at, jobs.c.created_at)
    where = (jobs.c.status == JobStatus.RUNNING.value) & (silent_since < since)
    return list_jobs(connection, where=where, after=after, limit=limit)


def count_by_status(connection: Connection) -> dict[str, int]:
    """How many jobs have each status (statuses no job has are absent)."""
    query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
    return {status: int(count) for status, count in connection.execute(query)}


def running_job_rates(connection: Connection, *, limit: int) -> dict[str, float]:
    """The current rate of the `limit` most recently seen running jobs that have one."""
    query = (
        select(jobs.c.job_id, jobs.c.learning_rate)
        .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.learning_rate.is_not(None))
        .order_by(func.coalesce(jobs.c.last_seen_at, jobs.c.created_at).desc(), jobs.c.job_id)
        .limit(limit)
    )
    return {job_id: float(rate) for job_id, rate in connection.execute(query)}


def jobs_using_schedule(connection: Connection, schedule_name: str) -> list[StoredJob]:
    """The jobs on the named schedule, row-locked (PostgreSQL), by id."""
    query = (
        select(jobs)
        .where(jobs.c.schedule_name == schedule_name)
        .order_by(jobs.c.job_id)
        .with_for_update()
    )
    return [job_of(row) for row in connection.execute(query).mappings()]


def delete_job(connection: Connection, job_id: str) -> None:
    """Delete a job; its decisions and audit events go with it (foreign keys cascade)."""
    connection.execute(delete(jobs).where(jobs.c.job_id == job_id))


def _idle_and_finished(cutoff: datetime) -> ColumnElement[bool]:
    """Finished with no change and no report since `cutoff` (the retention rule)."""
    return and_(
        jobs.c.status.in_([status.value for status in FINISHED]),
        jobs.c.updated_at < cutoff,
        or_(jobs.c.last_seen_at.is_(None), jobs.c.last_seen_at < cutoff),
    )


def finished_job_ids_idle_since(connection: Connection, cutoff: datetime) -> list[str]:
    """Finished jobs with no change and no report since `cutoff`."""
    return list(
        connection.execute(select(jobs.c.job_id).where(_idle_and_finished(cutoff))).scalars()
    )


def delete_if_idle_and_finished(connection: Connection, job_id: str, cutoff: datetime) -> bool:
    """Delete the job if it is still finished and idle since `cutoff`; whether it was.

    The rule is in the DELETE's own WHERE, so a job reopened or reported after it was selected
    survives: PostgreSQL re-checks the WHERE on the row's newest version once the concurrent
    writer commits, and SQLite's write lock holds off every writer meanwhile.
    """
    statement = delete(jobs).where(jobs.c.job_id == job_id, _idle_and_finished(cutoff))
    return connection.execute(statement).rowcount == 1


def audit_snapshot(job: StoredJob) -> dict[str, Any]:
    """The configuration an audit event records before and after a change."""
    return {
        "status": job.status.value,
        "schedule": {
            "name": job.schedule_name,
            "version": job.schedule_version,
            "follow": job.follow.value,
        },
        "spec": spec_document(job.spec),
        "scale": job.scale,
        "override": job.override,
        "paused": job.paused,
        "labels": job.labels,
        "clock_origin": job.clock_origin,
        "cooldown": job.cooldown,
    }


def record_event(
    connection: Connection,
    actor: str,
    action: AuditAction,
    before: StoredJob | None,
    after: StoredJob,
    *,
    change_id: str | None = None,
) -> None:
    """Append one audit event for a change of `after.job_id` from `before` to `after`
    (`change_id`: the bulk change it is part of)."""
    connection.execute(
        insert(events).values(
            job_id=after.job_id,
            at=utc_now(),
            actor=actor,
            action=action.value,
            before=audit_snapshot(before) if before is not None else None,
            after=audit_snapshot(after),
            change_id=change_id,
        )
    )


def list_events(
    connection: Connection, job_id: str, *, after_id: int | None, limit: int
) -> Sequence[StoredEvent]:
    """A job's audit events, oldest first."""
    query = select(events).where(events.c.job_id == job_id)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    rows = connection.execute(query.order_by(events.c.id).limit(limit)).mappings()
    return [event_of(row) for row in rows]


_SELECTOR_FIELDS = {STATUS_KEY: jobs.c.status, JOB_ID_KEY: jobs.c.job_id}


def _requirement_condition(requirement: Requirement) -> ColumnElement[bool]:
    column = _SELECTOR_FIELDS.get(requirement.key)
    if column is not None:
        if requirement.operator == Operator.IN:
            return column.in_(requirement.values)
        return column.not_in(requirement.values)
    # Label values are strings, never JSON null: a NULL here means the label is absent.
    value: ColumnElement[str] = jobs.c.labels[requirement.key].as_string()
    match requirement.operator:
        case Operator.EXISTS:
            return value.is_not(None)
        case Operator.NOT_EXISTS:
            return value.is_(None)
        case Operator.IN:
            return value.in_(requirement.values)
        case Operator.NOT_IN:
            return or_(value.is_(None), value.not_in(requirement.values))


def selector_condition(selector: Selector) -> ColumnElement[bool]:
    """The WHERE condition on `jobs` that holds exactly for the jobs `selector` matches."""
    return and_(true(), *map(_requirement_condition, selector.requirements))
