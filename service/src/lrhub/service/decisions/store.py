"""Storage of decisions: the decision path's statements and a job's history (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from lrhub.service.jobs.store import StoredJob, job_of
from lrhub.service.storage.tables import decisions, jobs, schedules


@dataclass(frozen=True)
class DecisionRecord:
    """One decided epoch of a job, as it is stored (every column of `decisions` but `id`)."""

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
    """Which spec `state_before` and `state_after` belong to (with `clock_origin`)."""
    clock_origin: int
    state_before: dict[str, Any] | None
    state_after: dict[str, Any]
    gap: int
    rewound: bool
    superseded: bool
    decided_at: datetime


@dataclass(frozen=True)
class StoredDecision(DecisionRecord):
    """A row of `decisions`: a DecisionRecord with its id, which orders the history, and its
    stream position (None until the stream's sequencer numbers it)."""

    id: int
    seq: int | None


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
        last_seen_at=bindparam("updated_at"),
    )
)
_DECISION_PARAM = "decision_"
_INSERT_DECISION = insert(decisions).values(
    {
        column.name: bindparam(_DECISION_PARAM + column.name, type_=column.type)
        for column in decisions.c
        if column.name not in ("id", "seq")
    }
)
# PostgreSQL runs both writes as one statement (a data-modifying CTE): one round trip fewer.
_STORE_DECISION_IN_ONE_STATEMENT = _RECORD_DECISION_ON_JOB.add_cte(
    _INSERT_DECISION.cte("stored_decision")
)
_IN_FORCE = decisions.c.superseded == False  # noqa: E712 - SQL expression, not a comparison


def get_job_for_decision(
    connection: Connection, job_id: str
) -> tuple[StoredJob, int | None] | None:
    """The row-locked job and the latest version of its schedule, in one query."""
    row = connection.execute(_JOB_FOR_DECISION, {"job_id": job_id}).mappings().first()
    if row is None:
        return None
    values = dict(row)
    latest = values.pop("latest_version")
    return job_of(values), latest


def store_decision(
    connection: Connection, record: DecisionRecord, *, held_rate: float | None
) -> None:
    """Insert a decision and record it on its job row.

    The job row gets the decision's epoch, rate, state and time (`updated_at` and
    `last_seen_at`), and `held_rate`.
    """
    on_job = {
        "decided_job_id": record.job_id,
        "last_epoch": record.epoch,
        "learning_rate": record.learning_rate,
        "state": record.state_after,
        "held_rate": held_rate,
        "updated_at": record.decided_at,
    }
    inserted = {_DECISION_PARAM + name: value for name, value in asdict(record).items()}
    if connection.dialect.name == "postgresql":
        connection.execute(_STORE_DECISION_IN_ONE_STATEMENT, inserted | on_job)
        return
    connection.execute(_INSERT_DECISION, inserted)
    connection.execute(_RECORD_DECISION_ON_JOB, on_job)


def first_active_decision_from(
    connection: Connection, job_id: str, epoch: int
) -> StoredDecision | None:
    """The earliest decision still in force at or after `epoch`."""
    query = (
        select(decisions)
        .where(decisions.c.job_id == job_id, _IN_FORCE, decisions.c.epoch >= epoch)
        .order_by(decisions.c.epoch)
        .limit(1)
    )
    row = connection.execute(query).mappings().first()
    return StoredDecision(**row) if row else None


def last_active_epoch_before(connection: Connection, job_id: str, epoch: int) -> int | None:
    """The latest epoch decided (and in force) before `epoch`."""
    query = select(func.max(decisions.c.epoch)).where(
        decisions.c.job_id == job_id, _IN_FORCE, decisions.c.epoch < epoch
    )
    value = connection.execute(query).scalar_one_or_none()
    return int(value) if value is not None else None


def supersede_from(connection: Connection, job_id: str, epoch: int) -> None:
    """Mark every decision in force at or after `epoch` superseded (a checkpoint rewind)."""
    connection.execute(
        update(decisions)
        .where(decisions.c.job_id == job_id, _IN_FORCE, decisions.c.epoch >= epoch)
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
        query = query.where(_IN_FORCE)
    if after_id is not None:
        query = query.where(decisions.c.id > after_id)
    query = query.order_by(decisions.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [StoredDecision(**row) for row in connection.execute(query).mappings()]
