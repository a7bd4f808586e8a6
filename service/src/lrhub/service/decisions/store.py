"""Storage of decisions: the decision path's statements and a job's history (SQLAlchemy Core)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, false, func, insert, select, update

from lrhub.service.jobs.store import StoredJob, job_of
from lrhub.service.storage.tables import decisions, jobs, schedules


@dataclass(frozen=True)
class DecisionRecord:
    """One decided epoch of a job, as it is stored (every column of `decisions` but `id`)."""

    job_id: str
    epoch: int
    metrics: dict[str, float] | None
    """The decision's input: the metrics observed at the end of the epoch before."""
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
    end_metrics: dict[str, float] | None
    """Observed at the end of this epoch; None until the job reports them."""


@dataclass(frozen=True)
class StoredDecision(DecisionRecord):
    """A row of `decisions`: a DecisionRecord with its id, which orders the history."""

    id: int


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
        # Not "learning_rate": an UPDATE also sets every column its parameters name, and the
        # decisions UPDATE of the same statement (PostgreSQL) has a learning_rate column too.
        learning_rate=bindparam("job_learning_rate"),
        state=bindparam("state"),
        held_rate=bindparam("held_rate"),
        updated_at=bindparam("updated_at"),
        last_seen_at=bindparam("last_seen_at"),
        epoch_intervals=bindparam("epoch_intervals", type_=jobs.c.epoch_intervals.type),
        status=bindparam("status"),
    )
)
_IN_FORCE = decisions.c.superseded == False  # noqa: E712 - SQL expression, not a comparison
# The metrics a decision is made from were observed at the end of the epoch before: they are
# that epoch's end metrics (no row matches when that epoch has no decision in force).
_RECORD_END_METRICS = (
    update(decisions)
    .where(
        decisions.c.job_id == bindparam("ended_job_id"),
        decisions.c.epoch == bindparam("ended_epoch"),
        # A literal, not a bound False: a bound value in a CTE loses its value on PostgreSQL.
        decisions.c.superseded.is_(false()),
    )
    .values(end_metrics=bindparam("end_metrics", type_=decisions.c.end_metrics.type))
)
_DECISION_PARAM = "decision_"
_INSERT_DECISION = insert(decisions).values(
    {
        column.name: bindparam(_DECISION_PARAM + column.name, type_=column.type)
        for column in decisions.c
        if column.name != "id"
    }
)
# PostgreSQL runs the writes as one statement (data-modifying CTEs): fewer round trips.
_STORE_DECISION_IN_ONE_STATEMENT = _RECORD_DECISION_ON_JOB.add_cte(
    _INSERT_DECISION.cte("stored_decision"), _RECORD_END_METRICS.cte("ended_epoch")
)
_SEEN = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("seen_job_id"))
    .values(last_seen_at=bindparam("last_seen_at"))
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
    return job_of(values), latest


def store_decision(
    connection: Connection,
    record: DecisionRecord,
    job: StoredJob,
    *,
    held_rate: float | None,
    ended_epoch: int | None,
) -> None:
    """Insert a decision, record it on its job row and, when `ended_epoch` is given, record the
    decision's metrics as that epoch's end metrics.

    The job row gets the decision's epoch, rate, state and time, `held_rate`, and from `job`
    its status, last report and epoch intervals.
    """
    on_job = {
        "decided_job_id": record.job_id,
        "last_epoch": record.epoch,
        "job_learning_rate": record.learning_rate,
        "state": record.state_after,
        "held_rate": held_rate,
        "updated_at": record.decided_at,
        "last_seen_at": job.last_seen_at,
        "epoch_intervals": job.epoch_intervals,
        "status": job.status.value,
    }
    ended = {
        "ended_job_id": record.job_id,
        "ended_epoch": -1 if ended_epoch is None else ended_epoch,
        "end_metrics": record.metrics,
    }
    inserted = {_DECISION_PARAM + name: value for name, value in asdict(record).items()}
    if connection.dialect.name == "postgresql":
        connection.execute(_STORE_DECISION_IN_ONE_STATEMENT, inserted | on_job | ended)
        return
    connection.execute(_INSERT_DECISION, inserted)
    connection.execute(_RECORD_DECISION_ON_JOB, on_job)
    if ended_epoch is not None:
        connection.execute(_RECORD_END_METRICS, ended)


def mark_seen(connection: Connection, job_id: str, at: datetime) -> None:
    """Record that the job reported at `at` (a replayed decision, an epoch's end)."""
    connection.execute(_SEEN, {"seen_job_id": job_id, "last_seen_at": at})


def record_end_metrics(
    connection: Connection, job_id: str, epoch: int, metrics: dict[str, float]
) -> None:
    """Record the metrics observed at the end of `epoch` (its decision must be in force)."""
    connection.execute(
        _RECORD_END_METRICS,
        {"ended_job_id": job_id, "ended_epoch": epoch, "end_metrics": metrics},
    )


def active_decision(connection: Connection, job_id: str, epoch: int) -> StoredDecision | None:
    """The decision of `epoch` in force, if any."""
    query = select(decisions).where(
        decisions.c.job_id == job_id, _IN_FORCE, decisions.c.epoch == epoch
    )
    row = connection.execute(query).mappings().first()
    return StoredDecision(**row) if row else None


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
