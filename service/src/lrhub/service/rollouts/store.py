"""Storage of rollouts, and the metric reads their judge needs (SQLAlchemy Core).

The judge claims rollouts still to be acted on `FOR UPDATE SKIP LOCKED` (PostgreSQL: replicas
judging at once each get other rows, none waits, none judges a rollout another one holds) and
acts in that transaction; SQLite has one writer at a time, so its judges are serialized anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from lrhub.service.rollouts.model import (
    Analysis,
    Baseline,
    Direction,
    JobFigure,
    Mode,
    RolloutState,
    StoredRollout,
    Verdict,
)
from lrhub.service.storage.tables import decisions, rollout_events, rollouts

_IN_FORCE = decisions.c.superseded == False  # noqa: E712 - SQL expression, not a comparison


def _verdict_of(value: Mapping[str, Any] | None) -> Verdict | None:
    if value is None:
        return None
    jobs = [JobFigure(**job) for job in value["jobs"]]
    return Verdict(**{**value, "jobs": jobs})


def _rollout(row: Mapping[Any, Any]) -> StoredRollout:
    analysis = dict(row["analysis"])
    return StoredRollout(
        **{
            **row,
            "analysis": Analysis(**{**analysis, "mode": Direction(analysis["mode"])}),
            "promote": Mode(row["promote"]),
            "revert": Mode(row["revert"]),
            "state": RolloutState(row["state"]),
            "baselines": {
                job_id: Baseline(**baseline) for job_id, baseline in row["baselines"].items()
            },
            "verdict": _verdict_of(row["verdict"]),
        }
    )


def insert_rollout(connection: Connection, rollout: StoredRollout) -> None:
    """Store a new rollout."""
    values = asdict(rollout)
    values.update(
        promote=rollout.promote.value,
        revert=rollout.revert.value,
        state=rollout.state.value,
    )
    connection.execute(insert(rollouts).values(**values))


def get_rollout(
    connection: Connection, rollout_id: str, *, lock: bool = False
) -> StoredRollout | None:
    """The rollout, row-locked until commit when `lock`; None when there is none."""
    query = select(rollouts).where(rollouts.c.rollout_id == rollout_id)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    return _rollout(row) if row else None


def list_rollouts(connection: Connection, *, after: str | None, limit: int) -> list[StoredRollout]:
    """Rollouts by id, after the id `after`."""
    query = select(rollouts)
    if after is not None:
        query = query.where(rollouts.c.rollout_id > after)
    rows = connection.execute(query.order_by(rollouts.c.rollout_id).limit(limit)).mappings()
    return [_rollout(row) for row in rows]


def count_by_state(connection: Connection) -> dict[str, int]:
    """How many rollouts are in each state (states no rollout is in are absent)."""
    query = select(rollouts.c.state, func.count()).group_by(rollouts.c.state)
    return {state: int(count) for state, count in connection.execute(query)}


def list_analyzing(connection: Connection, *, limit: int) -> list[StoredRollout]:
    """Up to `limit` rollouts under analysis, oldest first (a read: no lock)."""
    rows = connection.execute(
        select(rollouts)
        .where(rollouts.c.state == RolloutState.ANALYZING.value)
        .order_by(rollouts.c.created_at, rollouts.c.rollout_id)
        .limit(limit)
    ).mappings()
    return [_rollout(row) for row in rows]


def claim_analyzing(connection: Connection, rollout_id: str) -> StoredRollout | None:
    """The rollout, row-locked until this transaction commits, if it is still under analysis
    and no other transaction holds it; else None."""
    row = (
        connection.execute(
            select(rollouts)
            .where(
                rollouts.c.rollout_id == rollout_id,
                rollouts.c.state == RolloutState.ANALYZING.value,
            )
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .first()
    )
    return _rollout(row) if row else None


def save_outcome(connection: Connection, rollout: StoredRollout) -> None:
    """Store the rollout's state, verdict and who moved it."""
    connection.execute(
        update(rollouts)
        .where(rollouts.c.rollout_id == rollout.rollout_id)
        .values(
            state=rollout.state.value,
            verdict=asdict(rollout.verdict) if rollout.verdict is not None else None,
            updated_at=rollout.updated_at,
            judged_by=rollout.judged_by,
        )
    )


def insert_event(
    connection: Connection,
    rollout: StoredRollout,
    actor: str,
    data: Mapping[str, Any],
) -> None:
    """Record that the rollout entered its state (for the event stream)."""
    connection.execute(
        insert(rollout_events).values(
            rollout_id=rollout.rollout_id,
            at=rollout.updated_at,
            actor=actor,
            state=rollout.state.value,
            data=dict(data),
        )
    )


def metric_by_epoch(
    connection: Connection, job_ids: Collection[str], metric: str
) -> dict[str, dict[int, float]]:
    """Per job, the value of `metric` at the end of each epoch it reported, from the decisions
    in force: a decision's input metrics are the epoch before's, its end metrics its own."""
    series: dict[str, dict[int, float]] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return series
    rows = connection.execute(
        select(
            decisions.c.job_id, decisions.c.epoch, decisions.c.metrics, decisions.c.end_metrics
        ).where(decisions.c.job_id.in_(list(job_ids)), _IN_FORCE)
    )
    for job_id, epoch, metrics, end_metrics in rows:
        for at, values in ((epoch - 1, metrics), (epoch, end_metrics)):
            if values and metric in values and at >= 0:
                series[job_id][at] = float(values[metric])
    return series


def latest_values(series: Mapping[str, Mapping[int, float]]) -> dict[str, Baseline]:
    """Per job of `series`, its last reported epoch and value (jobs without any are absent)."""
    return {
        job_id: Baseline(epoch=max(values), value=values[max(values)])
        for job_id, values in series.items()
        if values
    }


def job_ids_of(rollout: StoredRollout) -> Sequence[str]:
    """Every cohort job of the rollout, canary first."""
    return [*rollout.canary, *rollout.control]
