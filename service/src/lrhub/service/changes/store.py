"""Storage of changes and what each did to every job (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lrhub.service.changes.model import BulkOutcome, ChangeState, JobChange, StoredChange
from lrhub.service.storage.tables import change_jobs, changes


def insert_change(connection: Connection, change: StoredChange) -> None:
    """Store a new change (before any job changes)."""
    connection.execute(insert(changes).values(**asdict(change) | {"state": change.state.value}))


def set_state(connection: Connection, change_id: str, state: ChangeState) -> None:
    """Move the change to `state`."""
    connection.execute(
        update(changes).where(changes.c.change_id == change_id).values(state=state.value)
    )


def record_job(connection: Connection, change_id: str, job: JobChange) -> None:
    """Record what the change did to one job (in the transaction that changed it)."""
    connection.execute(
        insert(change_jobs).values(
            change_id=change_id, **asdict(job) | {"outcome": job.outcome.value}
        )
    )


def _change(row: Mapping[Any, Any] | None) -> StoredChange | None:
    return StoredChange(**{**row, "state": ChangeState(row["state"])}) if row else None


def get_change(connection: Connection, change_id: str) -> StoredChange | None:
    """The change, or None."""
    query = select(changes).where(changes.c.change_id == change_id)
    return _change(connection.execute(query).mappings().first())


def find_by_key(connection: Connection, actor: str, idempotency_key: str) -> StoredChange | None:
    """The change `actor` made with this Idempotency-Key, or None."""
    query = select(changes).where(
        changes.c.actor == actor, changes.c.idempotency_key == idempotency_key
    )
    return _change(connection.execute(query).mappings().first())


def _job_change(row: Mapping[Any, Any]) -> JobChange:
    return JobChange(
        job_id=row["job_id"],
        before=row["before"],
        after=row["after"],
        outcome=BulkOutcome(row["outcome"]),
        detail=row["detail"],
    )


def list_jobs(
    connection: Connection, change_id: str, *, after: str | None, limit: int
) -> list[JobChange]:
    """What the change did to its jobs, by job id after the id `after`."""
    query = select(change_jobs).where(change_jobs.c.change_id == change_id)
    if after is not None:
        query = query.where(change_jobs.c.job_id > after)
    rows = connection.execute(query.order_by(change_jobs.c.job_id).limit(limit)).mappings()
    return [_job_change(row) for row in rows]


def get_job(connection: Connection, change_id: str, job_id: str) -> JobChange | None:
    """What the change did to the job `job_id`, or None (not reached)."""
    query = select(change_jobs).where(
        change_jobs.c.change_id == change_id, change_jobs.c.job_id == job_id
    )
    row = connection.execute(query).mappings().first()
    return _job_change(row) if row else None


def set_matched(connection: Connection, change_id: str, matched: int) -> None:
    """Set how many jobs the change set out to change."""
    connection.execute(
        update(changes).where(changes.c.change_id == change_id).values(matched=matched)
    )
