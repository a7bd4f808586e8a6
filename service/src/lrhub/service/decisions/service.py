"""The decision (`decide_epoch`) and the decision history; see DESIGN.md "The decision".

`decide_epoch` is one write transaction with the job row locked (PostgreSQL `FOR UPDATE`,
SQLite `BEGIN IMMEDIATE`). On the common path it runs four statements: read the job (joined with
its schedule's latest version), insert the decision, update the job, commit (on PostgreSQL the
insert and the update are one statement); an epoch at or below the last one also reads the
stored decision to tell a retry from a rewind.

Rewind rule: the state before the rewound epoch is restored only if it belongs to the
configuration in force now (same spec, same clock origin). A PATCH between that epoch and now
changes take effect at the next decided epoch, so the current configuration decides the epoch
again, and a state saved for another spec or clock starts fresh instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from lrhub.schedules import EvaluationError, OperatorSettings, apply_operator_settings, decide
from lrhub.service.auth.tokens import Principal
from lrhub.service.catalog import store as schedule_store
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.errors import EvaluationFailed, NotFound
from lrhub.service.http.paging import decode_int_cursor, encode_cursor
from lrhub.service.http.schemas import DecisionOut, HistoryItem, Page, ScheduleUsed
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.service import STOPPED, record_event
from lrhub.service.jobs.store import StoredDecision, StoredJob
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import load_spec, spec_key

FOLLOW_ACTOR = "lrhub:follow-latest"


@dataclass(frozen=True)
class DecisionOutcome:
    """A decision answer and what the metrics need to know about it."""

    answer: DecisionOut
    outcome: str  # "new", "replayed" or "rewound"
    reductions: int


def _replay(job_id: str, stored: StoredDecision) -> DecisionOutcome:
    answer = DecisionOut(
        job_id=job_id,
        epoch=stored.epoch,
        learning_rate=stored.learning_rate,
        step_learning_rates=stored.step_learning_rates,
        reason=stored.reason,
        stop=stored.stop,
        schedule=ScheduleUsed(name=stored.schedule_name, version=stored.schedule_version),
        replayed=True,
        rewound=stored.rewound,
        gap=stored.gap,
        state=stored.state_after,
        decided_at=as_utc(stored.decided_at),
    )
    return DecisionOutcome(answer=answer, outcome="replayed", reductions=0)


def _follow_latest(connection: Connection, job: StoredJob, latest: int | None) -> StoredJob:
    """Switch a job that follows `latest` to a newer schedule version, with fresh state."""
    if job.follow != "latest" or latest is None or latest == job.schedule_version:
        return job
    assert job.schedule_name is not None
    version = schedule_store.get_version(connection, job.schedule_name, latest)
    if version is None:
        return job
    changes = {"schedule_version": latest, "spec": version.spec, "state": None}
    job_store.update_job(connection, job.job_id, changes)
    before = asdict(job)
    record_event(connection, job.job_id, FOLLOW_ACTOR, "update", before, before | changes)
    return StoredJob(**(before | changes))


def decide_epoch(
    engine: Engine,
    principal: Principal,
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
) -> DecisionOutcome:
    """Answer the rate of `epoch` for the job: replay, rewind or a new decision."""
    principal.require_job(job_id)
    with write_transaction(engine) as connection:
        found = job_store.get_job_for_decision(connection, job_id)
        if found is None:
            raise NotFound(f"there is no job {job_id!r}")
        job, latest_version = found
        rewound_from: StoredDecision | None = None
        if job.last_epoch is not None and epoch <= job.last_epoch:
            stored = job_store.first_active_decision_from(connection, job_id, epoch)
            if stored is not None and stored.epoch == epoch:
                known = stored.metrics if metrics is None else dict(metrics)
                if known == stored.metrics and steps_per_epoch in (None, stored.steps_per_epoch):
                    return _replay(job_id, stored)
                metrics = known
            rewound_from = stored
        job = _follow_latest(connection, job, latest_version)
        return _decide_and_store(connection, job, epoch, metrics, steps_per_epoch, rewound_from)


def _decide_and_store(
    connection: Connection,
    job: StoredJob,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    rewound_from: StoredDecision | None,
) -> DecisionOutcome:
    key = spec_key(job.spec)
    # Before the clock origin a restarted schedule has no t < 0: it starts at the decided epoch.
    origin = min(job.clock_origin, epoch)
    state_before: dict[str, Any] | None = job.state
    previous_epoch = job.last_epoch
    if rewound_from is not None:
        restorable = rewound_from.spec_key == key and rewound_from.clock_origin == origin
        state_before = rewound_from.state_before if restorable else None
        previous_epoch = job_store.last_active_epoch_before(connection, job.job_id, epoch)
        job_store.supersede_from(connection, job.job_id, epoch)
    try:
        decision = decide(
            load_spec(job.spec),
            state_before,
            epoch=epoch,
            metrics=metrics,
            steps_per_epoch=steps_per_epoch,
            clock_origin=origin,
        )
    except EvaluationError as error:
        raise EvaluationFailed(f"epoch {epoch}: {error}") from error
    answered = apply_operator_settings(
        decision,
        OperatorSettings(
            scale=job.scale,
            override=job.override,
            paused=job.paused,
            held_rate=job.held_rate,
            stopped=job.status == STOPPED,
        ),
    )
    now = utc_now()
    gap = epoch - (previous_epoch if previous_epoch is not None else -1) - 1
    held_rate = job.held_rate
    if job.paused and held_rate is None:
        held_rate = answered.learning_rate  # paused before any decision: hold the first rate
    job_store.store_decision(
        connection,
        {
            "job_id": job.job_id,
            "epoch": epoch,
            "metrics": dict(metrics) if metrics is not None else None,
            "steps_per_epoch": steps_per_epoch,
            "learning_rate": answered.learning_rate,
            "step_learning_rates": answered.step_learning_rates,
            "reason": answered.reason,
            "stop": answered.stop,
            "schedule_name": job.schedule_name,
            "schedule_version": job.schedule_version,
            "spec_key": key,
            "clock_origin": origin,
            "state_before": state_before,
            "state_after": decision.state,
            "gap": gap,
            "rewound": rewound_from is not None,
            "superseded": False,
            "decided_at": now,
        },
        held_rate=held_rate,
    )
    answer = DecisionOut(
        job_id=job.job_id,
        epoch=epoch,
        learning_rate=answered.learning_rate,
        step_learning_rates=answered.step_learning_rates,
        reason=answered.reason,
        stop=answered.stop,
        schedule=ScheduleUsed(name=job.schedule_name, version=job.schedule_version),
        replayed=False,
        rewound=rewound_from is not None,
        gap=gap,
        state=decision.state,
        decided_at=now,
    )
    outcome = "rewound" if rewound_from is not None else "new"
    return DecisionOutcome(answer=answer, outcome=outcome, reductions=decision.reductions)


def history_item(row: StoredDecision) -> HistoryItem:
    """One stored decision as the history shows it."""
    return HistoryItem(
        epoch=row.epoch,
        learning_rate=row.learning_rate,
        step_learning_rates=row.step_learning_rates,
        reason=row.reason,
        stop=row.stop,
        metrics=row.metrics,
        schedule=ScheduleUsed(name=row.schedule_name, version=row.schedule_version),
        superseded=row.superseded,
        decided_at=as_utc(row.decided_at),
    )


def job_history(
    engine: Engine,
    principal: Principal,
    job_id: str,
    *,
    include_superseded: bool,
    cursor: str | None,
    limit: int | None,
) -> Page[HistoryItem]:
    """A page of the job's decisions in the order they were made (all of them when no limit)."""
    principal.require_job(job_id)
    after = decode_int_cursor(cursor)
    with read_transaction(engine) as connection:
        if job_store.get_job(connection, job_id) is None:
            raise NotFound(f"there is no job {job_id!r}")
        rows = job_store.list_decisions(
            connection, job_id, include_superseded=include_superseded, after_id=after, limit=limit
        )
    next_cursor = encode_cursor(rows[-1].id) if limit is not None and len(rows) == limit else None
    return Page[HistoryItem](items=[history_item(row) for row in rows], next_cursor=next_cursor)
