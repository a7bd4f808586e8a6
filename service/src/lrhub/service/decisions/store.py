"""Storage of decisions: the decision path's statements and a job's history (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Double,
    Row,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from lrhub.service.decisions.model import (
    AppliedReport,
    NewDecision,
    SeriesPoint,
    StoredDecision,
)
from lrhub.service.jobs.model import StoredJob
from lrhub.service.jobs.store import job_of
from lrhub.service.storage.database import DriverStatement, DriverWrite
from lrhub.service.storage.tables import decisions, jobs, schedules, spec_texts

# The decision path's statements are built once: SQLAlchemy then reuses their compiled form
# instead of re-coercing a new statement per request.
_JOB_FOR_DECISION = (
    select(jobs, schedules.c.latest_version)
    .select_from(jobs.outerjoin(schedules, schedules.c.name == jobs.c.schedule_name))
    .where(jobs.c.job_id == bindparam("job_id"))
)
# The columns a decision writes on its job (a follow-latest switch writes the schedule too).
_DECIDED_COLUMNS = (
    "last_epoch", "learning_rate", "state", "held_rate", "updated_at", "schedule_version", "spec",
    "row_version", "last_seen_at", "epoch_intervals", "status", "revision", "cooldown",
    "pending_epoch",
)  # fmt: skip
_LATEST_VERSION_NOW = (
    select(schedules.c.latest_version)
    .where(schedules.c.name == jobs.c.schedule_name)
    .scalar_subquery()
)
# Compare-and-set: the job row is written only if it is still the version the decision was
# computed from, and its schedule has no newer version than the one that was seen then.
_DECIDE_ON_JOB = (
    update(jobs)
    .where(
        jobs.c.job_id == bindparam("decided_job_id"),
        jobs.c.row_version == bindparam("read_row_version"),
        func.coalesce(_LATEST_VERSION_NOW, 0) == bindparam("read_latest_version"),
    )
    .values({name: bindparam("new_" + name, type_=jobs.c[name].type) for name in _DECIDED_COLUMNS})
)
# The metrics a decision is made from were observed at the end of the epoch before: they are
# that epoch's end metrics (no row matches when that epoch has no decision in force).
_ENDED = (
    decisions.c.job_id == bindparam("ended_job_id"),
    decisions.c.epoch == bindparam("ended_epoch"),
    # A literal, not a bound False: a bound value in a CTE loses its value on PostgreSQL.
    decisions.c.superseded.is_(false()),
)
_RECORD_END_METRICS = (
    update(decisions)
    .where(*_ENDED)
    .values(end_metrics=bindparam("end_metrics", type_=decisions.c.end_metrics.type))
)
# What the job's optimizer applied during an epoch, recorded on that epoch's decision in force.
_APPLIED = (
    decisions.c.job_id == bindparam("applied_job_id"),
    decisions.c.epoch == bindparam("applied_epoch"),
    decisions.c.superseded.is_(false()),
)
_APPLIED_VALUES = {
    "applied_learning_rate": bindparam("applied_learning_rate", type_=Double),
    "applied_momentum": bindparam("applied_momentum", type_=Double),
    "drift": bindparam("applied_drift", type_=Boolean),
}
_RECORD_APPLIED = update(decisions).where(*_APPLIED).values(_APPLIED_VALUES)
_SEEN = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("seen_job_id"))
    .values(last_seen_at=bindparam("last_seen_at"))
)
_DECISION_PARAM = "decision_"
_DECISION_COLUMNS = [column for column in decisions.c if column.name not in ("id", "seq")]
_INSERT_DECISION = insert(decisions).values(
    {
        column.name: bindparam(_DECISION_PARAM + column.name, type_=column.type)
        for column in _DECISION_COLUMNS
    }
)
# PostgreSQL does every write in one autocommit statement, the insert and the previous epoch's
# end metrics taking place only if the compare-and-set updated the job: one round trip for the
# whole decision.
_CAS_ON_JOB = _DECIDE_ON_JOB.returning(jobs.c.job_id).cte("decided_job")
# One update of the ended epoch's row: PostgreSQL applies only one of two CTEs updating the same
# row, so its applied report (the same epoch, when given) is written here too, kept when none.
_END_METRICS_IF_DECIDED = (
    update(decisions)
    .where(*_ENDED, exists(select(_CAS_ON_JOB.c.job_id)))
    .values(
        {"end_metrics": bindparam("end_metrics", type_=decisions.c.end_metrics.type)}
        | {name: func.coalesce(value, decisions.c[name]) for name, value in _APPLIED_VALUES.items()}
    )
    .cte("ended_epoch")
)
_DECIDE_IN_ONE_STATEMENT = (
    insert(decisions)
    .from_select(
        [column.name for column in _DECISION_COLUMNS],
        select(
            *(
                cast(bindparam(_DECISION_PARAM + column.name, type_=column.type), column.type)
                for column in _DECISION_COLUMNS
            )
        ).select_from(_CAS_ON_JOB),
    )
    .add_cte(_CAS_ON_JOB, _END_METRICS_IF_DECIDED)
    # The inserted id tells whether the compare-and-set held (the driver's rowcount is -1 here).
    .returning(decisions.c.id)
)
_IN_FORCE = decisions.c.superseded == False  # noqa: E712 - SQL expression, not a comparison


def read_job_for_decision(connection: Connection, job_id: str) -> tuple[StoredJob, int] | None:
    """The job and the latest version of its schedule (0 for an inline spec), in one query,
    without a lock: the decision's write checks that neither changed meanwhile."""
    row = connection.execute(_JOB_FOR_DECISION, {"job_id": job_id}).mappings().first()
    if row is None:
        return None
    values = dict(row)
    latest = values.pop("latest_version")
    return job_of(values), latest or 0


_RECORD_FIELDS = [field.name for field in fields(NewDecision)]


def _record_parameters(record: NewDecision) -> dict[str, Any]:
    # Field by field, not asdict: that deep-copies every list, the step rates included.
    parameters = {_DECISION_PARAM + name: getattr(record, name) for name in _RECORD_FIELDS}
    parameters[_DECISION_PARAM + "step_learning_rates"] = None  # derived on read
    del parameters[_DECISION_PARAM + "step_momentums"]  # derived on read, no column
    # Reported with the next epoch's request (record_applied), never with the decision.
    for name in ("applied_learning_rate", "applied_momentum", "drift"):
        parameters[_DECISION_PARAM + name] = None
    return parameters


def _ended_parameters(record: NewDecision, ended_epoch: int | None) -> dict[str, Any]:
    return {
        "ended_job_id": record.job_id,
        "ended_epoch": -1 if ended_epoch is None else ended_epoch,
        "end_metrics": record.metrics,
    }


def _applied_parameters(job_id: str, report: AppliedReport | None) -> dict[str, Any]:
    return {
        "applied_job_id": job_id,
        "applied_epoch": -1 if report is None else report.epoch,
        "applied_learning_rate": None if report is None else report.applied.learning_rate,
        "applied_momentum": None if report is None else report.applied.momentum,
        "applied_drift": None if report is None else report.drift,
    }


def record_applied(connection: Connection, job_id: str, report: AppliedReport) -> None:
    """Record what the job applied during `report.epoch` on that epoch's decision in force. A
    drifted decision loses its stream position: the sequencer numbers it again, so the stream
    sends it once more, as a `drift` event."""
    statement = _RECORD_APPLIED.values(seq=None) if report.drift else _RECORD_APPLIED
    connection.execute(statement, _applied_parameters(job_id, report))


def _job_parameters(read: StoredJob, read_latest: int, decided: StoredJob) -> dict[str, Any]:
    return {"new_" + name: getattr(decided, name) for name in _DECIDED_COLUMNS} | {
        "decided_job_id": read.job_id,
        "read_row_version": read.row_version,
        "read_latest_version": read_latest,
    }


def compare_and_set_job(
    connection: Connection, read: StoredJob, read_latest: int, decided: StoredJob
) -> bool:
    """Inside a write transaction: update the job from `read` to `decided`; False (and nothing
    written) when the job or its schedule changed since it was read."""
    parameters = _job_parameters(read, read_latest, decided)
    return connection.execute(_DECIDE_ON_JOB, parameters).rowcount == 1


def insert_decision(connection: Connection, record: NewDecision, ended_epoch: int | None) -> None:
    """Store one decision and, when `ended_epoch` is given, record its metrics as that epoch's
    end metrics."""
    connection.execute(_INSERT_DECISION, _record_parameters(record))
    if ended_epoch is not None:
        connection.execute(_RECORD_END_METRICS, _ended_parameters(record, ended_epoch))


# A new decision's write, the same statements on the driver's cursor (see DriverStatement).
_DRIVER_DECIDE_ON_JOB = DriverStatement(_DECIDE_ON_JOB)
_DRIVER_INSERT_DECISION = DriverStatement(_INSERT_DECISION)
_DRIVER_RECORD_END_METRICS = DriverStatement(_RECORD_END_METRICS)
_DRIVER_DECIDE_IN_ONE_STATEMENT = DriverStatement(_DECIDE_IN_ONE_STATEMENT)
_DRIVER_RECORD_APPLIED = DriverStatement(_RECORD_APPLIED)


def decide_on_driver(
    write: DriverWrite,
    read: StoredJob,
    read_latest: int,
    decided: StoredJob,
    record: NewDecision,
    ended_epoch: int | None,
    applied: AppliedReport | None = None,
) -> bool:
    """Update the job from `read` to `decided`, insert `record`, record its metrics as
    `ended_epoch`'s end metrics and `applied` (no drift) on its epoch (SQLite: in the write's
    transaction; PostgreSQL: in one statement); False (nothing written) when the job changed
    since it was read."""
    assert applied is None or not applied.drift, "a drift is recorded with its events"
    job = _job_parameters(read, read_latest, decided)
    if write.dialect.name == "postgresql":
        assert applied is None or applied.epoch == ended_epoch, "one update of the ended epoch"
        parameters = (
            _record_parameters(record)
            | job
            | _ended_parameters(record, ended_epoch)
            | _applied_parameters(record.job_id, applied)
        )
        return _DRIVER_DECIDE_IN_ONE_STATEMENT.first(write, parameters) is not None
    if _DRIVER_DECIDE_ON_JOB.execute(write, job) != 1:
        return False
    _DRIVER_INSERT_DECISION.execute(write, _record_parameters(record))
    if ended_epoch is not None:
        _DRIVER_RECORD_END_METRICS.execute(write, _ended_parameters(record, ended_epoch))
    if applied is not None:
        _DRIVER_RECORD_APPLIED.execute(write, _applied_parameters(record.job_id, applied))
    return True


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


# The column each of a series' columns besides `epochs` is read from, by the series column's
# name (`schemas.SERIES_FIELDS`): several jobs' series read only those asked for.
SERIES_FIELD_COLUMNS: dict[str, ColumnElement[Any]] = {
    "learning_rates": decisions.c.learning_rate,
    "reasons": decisions.c.reason,
    "reductions": decisions.c.reductions,
    "decided_at": decisions.c.decided_at,
    "metrics": cast(decisions.c.end_metrics, Text),
    "applied_learning_rates": decisions.c.applied_learning_rate,
    "drift": decisions.c.drift,
}

# What a curve needs of a decision, in SeriesPoint's order: no state is read or decoded.
_SERIES_POINT = (decisions.c.epoch, *SERIES_FIELD_COLUMNS.values())


def list_series(
    connection: Connection, job_id: str, *, after_epoch: int | None, limit: int
) -> list[SeriesPoint]:
    """The decisions in force for a job's epochs after `after_epoch`, by epoch, at most `limit`
    (only the columns a curve needs: no state is read or decoded)."""
    query = (
        select(*_SERIES_POINT)
        .where(decisions.c.job_id == job_id, _IN_FORCE)
        .order_by(decisions.c.epoch)
        .limit(limit)
    )
    if after_epoch is not None:
        query = query.where(decisions.c.epoch > after_epoch)
    return [SeriesPoint(*row) for row in connection.execute(query)]


def list_series_of_jobs(
    connection: Connection,
    job_ids: Collection[str],
    fields: Sequence[str],
    *,
    after: tuple[str, int] | None,
    limit: int,
) -> list[Row[Any]]:
    """The decisions in force of several jobs' epochs, by job id then epoch, after the position
    `after` (a job id and an epoch of it), at most `limit`, each as a row of its job id, its
    epoch, then the value of each of `fields` (names of SERIES_FIELD_COLUMNS): one query
    whatever the number of jobs."""
    query = (
        select(
            decisions.c.job_id,
            decisions.c.epoch,
            *(SERIES_FIELD_COLUMNS[name] for name in fields),
        )
        .where(decisions.c.job_id.in_(sorted(job_ids)), _IN_FORCE)
        .order_by(decisions.c.job_id, decisions.c.epoch)
        .limit(limit)
    )
    if after is not None:
        job_id, epoch = after
        query = query.where(
            or_(
                decisions.c.job_id > job_id,
                and_(decisions.c.job_id == job_id, decisions.c.epoch > epoch),
            )
        )
    return list(connection.execute(query).all())


def store_spec_text(connection: Connection, key: str, text: str) -> None:
    """Keep `text` under its spec key (nothing happens when it is already kept)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(spec_texts).values(spec_key=key, spec=text)
    connection.execute(statement.on_conflict_do_nothing(index_elements=["spec_key"]))


def spec_texts_of(connection: Connection, keys: Collection[str]) -> dict[str, str]:
    """The kept spec texts of `keys`, by key (a key never kept is absent)."""
    if not keys:
        return {}
    query = select(spec_texts.c.spec_key, spec_texts.c.spec).where(
        spec_texts.c.spec_key.in_(sorted(keys))
    )
    return {row.spec_key: row.spec for row in connection.execute(query)}
