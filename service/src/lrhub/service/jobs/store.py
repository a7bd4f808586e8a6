"""Storage of jobs, their decisions and their audit events (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, bindparam, func, insert, select, update

from lrhub.service.storage.tables import decisions, events, jobs, schedules


@dataclass(frozen=True)
class StoredJob:
    """One row of `jobs`."""

    job_id: str
    token_hash: str
    status: str
    schedule_name: str | None
    schedule_version: int | None
    follow: str
    spec: str
    scale: float
    override: float | None
    paused: bool
    held_rate: float | None
    labels: dict[str, str]
    clock_origin: int
    last_epoch: int | None
    learning_rate: float | None
    state: dict[str, Any] | None
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class StoredDecision:
    """One row of `decisions`."""

    id: int
    job_id: str
    epoch: int
    metrics: dict[str, float] | None
    steps_per_epoch: int | None
    learning_rate: float
    step_learning_rates: list[float] | None
    reason: str
    stop: bool
    schedule_name: str | None
    schedule_version: int | None
    spec_key: str
    clock_origin: int
    state_before: dict[str, Any] | None
    state_after: dict[str, Any]
    gap: int
    rewound: bool
    superseded: bool
    decided_at: datetime


@dataclass(frozen=True)
class StoredEvent:
    """One row of `events`."""

    id: int
    job_id: str
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any]


def _job(row: RowMapping) -> StoredJob:
    return StoredJob(**row)


def _decision(row: RowMapping) -> StoredDecision:
    return StoredDecision(**row)


def find_by_token_hash(connection: Connection, token_hash: str) -> StoredJob | None:
    """The job whose token hashes to `token_hash`."""
    row = connection.execute(select(jobs).where(jobs.c.token_hash == token_hash)).mappings().first()
    return _job(row) if row else None


def get_job(connection: Connection, job_id: str, *, lock: bool = False) -> StoredJob | None:
    """The job, optionally row-locked (PostgreSQL FOR UPDATE) for the rest of the transaction."""
    query = select(jobs).where(jobs.c.job_id == job_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    return _job(row) if row else None


# The decision path's statements are built once: SQLAlchemy then reuses their compiled form
# instead of re-coercing a new statement per request.
_JOB_FOR_DECISION = (
    select(jobs, schedules.c.latest_version)
    .select_from(jobs.outerjoin(schedules, schedules.c.name == jobs.c.schedule_name))
    .where(jobs.c.job_id == bindparam("job_id"))
    .with_for_update(of=jobs)
)
_RECORD_DECISION_ON_JOB = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("decided_job_id"))
    .values(
        last_epoch=bindparam("last_epoch"),
        learning_rate=bindparam("learning_rate"),
        state=bindparam("state"),
        held_rate=bindparam("held_rate"),
        updated_at=bindparam("updated_at"),
    )
)
_DECISION_PARAM = "decision_"
_INSERT_DECISION = insert(decisions).values(
    {
        column.name: bindparam(_DECISION_PARAM + column.name, type_=column.type)
        for column in decisions.c
        if column.name != "id"
    }
)
# PostgreSQL runs both writes as one statement (a data-modifying CTE): one round trip fewer.
_STORE_DECISION_IN_ONE_STATEMENT = _RECORD_DECISION_ON_JOB.add_cte(
    _INSERT_DECISION.cte("stored_decision")
)


def get_job_for_decision(
    connection: Connection, job_id: str
) -> tuple[StoredJob, int | None] | None:
    """The row-locked job and the latest version of its schedule, in one query."""
    row = connection.execute(_JOB_FOR_DECISION, {"job_id": job_id}).mappings().first()
    if row is None:
        return None
    values = dict(row)
    latest = values.pop("latest_version")
    return StoredJob(**values), latest


def store_decision(
    connection: Connection,
    decision: Mapping[str, Any],
    *,
    held_rate: float | None,
) -> None:
    """Insert a decision (every column but `id`) and record it on its job row.

    The job row gets the decision's epoch, rate, state and time, and `held_rate`.
    """
    on_job = {
        "decided_job_id": decision["job_id"],
        "last_epoch": decision["epoch"],
        "learning_rate": decision["learning_rate"],
        "state": decision["state_after"],
        "held_rate": held_rate,
        "updated_at": decision["decided_at"],
    }
    inserted = {_DECISION_PARAM + name: value for name, value in decision.items()}
    if connection.dialect.name == "postgresql":
        connection.execute(_STORE_DECISION_IN_ONE_STATEMENT, inserted | on_job)
        return
    connection.execute(_INSERT_DECISION, inserted)
    connection.execute(_RECORD_DECISION_ON_JOB, on_job)


def insert_job(connection: Connection, values: Mapping[str, Any]) -> None:
    """Store a new job."""
    connection.execute(insert(jobs).values(**values))


def update_job(connection: Connection, job_id: str, values: Mapping[str, Any]) -> None:
    """Change columns of a job."""
    connection.execute(update(jobs).where(jobs.c.job_id == job_id).values(**values))


def list_jobs(
    connection: Connection,
    *,
    labels: Mapping[str, str],
    status: str | None,
    after: str | None,
    limit: int,
) -> list[StoredJob]:
    """Jobs ordered by id, after the cursor `after`, matching every label and the status."""
    conditions = [jobs.c.labels[key].as_string() == value for key, value in labels.items()]
    if status is not None:
        conditions.append(jobs.c.status == status)
    if after is not None:
        conditions.append(jobs.c.job_id > after)
    query = select(jobs).where(and_(True, *conditions)).order_by(jobs.c.job_id).limit(limit)
    return [_job(row) for row in connection.execute(query).mappings()]


def count_active_jobs_using(connection: Connection, schedule_name: str) -> int:
    """How many jobs that are not stopped use the schedule."""
    query = select(func.count()).where(
        jobs.c.schedule_name == schedule_name, jobs.c.status != "stopped"
    )
    return int(connection.execute(query).scalar_one())


def first_active_decision_from(
    connection: Connection, job_id: str, epoch: int
) -> StoredDecision | None:
    """The earliest decision still in force at or after `epoch`."""
    query = (
        select(decisions)
        .where(
            decisions.c.job_id == job_id,
            decisions.c.superseded == False,  # noqa: E712 - SQL expression, not a comparison
            decisions.c.epoch >= epoch,
        )
        .order_by(decisions.c.epoch)
        .limit(1)
    )
    row = connection.execute(query).mappings().first()
    return _decision(row) if row else None


def last_active_epoch_before(connection: Connection, job_id: str, epoch: int) -> int | None:
    """The latest epoch decided (and in force) before `epoch`."""
    query = select(func.max(decisions.c.epoch)).where(
        decisions.c.job_id == job_id,
        decisions.c.superseded == False,  # noqa: E712
        decisions.c.epoch < epoch,
    )
    value = connection.execute(query).scalar_one_or_none()
    return int(value) if value is not None else None


def last_active_rate_before(connection: Connection, job_id: str, epoch: int) -> float | None:
    """The rate answered for the latest epoch in force before `epoch`."""
    query = (
        select(decisions.c.learning_rate)
        .where(
            decisions.c.job_id == job_id,
            decisions.c.superseded == False,  # noqa: E712
            decisions.c.epoch < epoch,
        )
        .order_by(decisions.c.epoch.desc())
        .limit(1)
    )
    value = connection.execute(query).scalar_one_or_none()
    return float(value) if value is not None else None


def supersede_from(connection: Connection, job_id: str, epoch: int) -> None:
    """Mark every decision in force at or after `epoch` superseded (a checkpoint rewind)."""
    connection.execute(
        update(decisions)
        .where(
            decisions.c.job_id == job_id,
            decisions.c.superseded == False,  # noqa: E712
            decisions.c.epoch >= epoch,
        )
        .values(superseded=True)
    )


def list_decisions(
    connection: Connection,
    job_id: str,
    *,
    include_superseded: bool,
    after_id: int | None,
    limit: int | None,
) -> list[StoredDecision]:
    """A job's decisions in the order they were made (oldest first)."""
    query = select(decisions).where(decisions.c.job_id == job_id)
    if not include_superseded:
        query = query.where(decisions.c.superseded == False)  # noqa: E712
    if after_id is not None:
        query = query.where(decisions.c.id > after_id)
    query = query.order_by(decisions.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [_decision(row) for row in connection.execute(query).mappings()]


def insert_event(connection: Connection, values: Mapping[str, Any]) -> None:
    """Store one audit event."""
    connection.execute(insert(events).values(**values))


def list_events(
    connection: Connection, job_id: str, *, after_id: int | None, limit: int
) -> Sequence[StoredEvent]:
    """A job's audit events, oldest first."""
    query = select(events).where(events.c.job_id == job_id)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    rows = connection.execute(query.order_by(events.c.id).limit(limit)).mappings()
    return [StoredEvent(**row) for row in rows]
