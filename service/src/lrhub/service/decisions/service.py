"""The decision (`decide_epoch`) and the decision history; see docs/design.md "The decision".

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
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine

from lrhub.schedules import (
    EvaluationError,
    OperatorSettings,
    answer_epoch,
    effective_clock_origin,
)
from lrhub.service.auth.principal import Principal
from lrhub.service.catalog import store as catalog_store
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.decisions import store as decision_store
from lrhub.service.decisions.store import DecisionRecord, StoredDecision
from lrhub.service.errors import Conflict, EvaluationFailed, NotFound
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.staleness import with_interval
from lrhub.service.jobs.store import AuditAction, Follow, JobStatus, StoredJob
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.storage.specs import load_spec, spec_key

FOLLOW_ACTOR = "lrhub:follow-latest"


class Outcome(StrEnum):
    """How a decision request was answered."""

    NEW = "new"
    REPLAYED = "replayed"
    REWOUND = "rewound"


@dataclass(frozen=True)
class DecidedEpoch:
    """A decision request's answer: the decision (stored now or before), how it was answered,
    and how many plateau reductions it made."""

    record: DecisionRecord
    outcome: Outcome
    reductions: int


def _follow_latest(connection: Connection, job: StoredJob, latest: int | None) -> StoredJob:
    """Switch a job that follows `latest` to a newer schedule version, with fresh state."""
    if job.follow != Follow.LATEST or latest is None or latest == job.schedule_version:
        return job
    assert job.schedule_name is not None
    version = catalog_store.get_version(connection, job.schedule_name, latest)
    if version is None:
        return job
    switched = replace(job, schedule_version=latest, spec=version.spec, state=None)
    job_store.update_job(connection, switched)
    job_store.record_event(connection, FOLLOW_ACTOR, AuditAction.UPDATE, job, switched)
    return switched


def decide_epoch(
    engine: Engine,
    principal: Principal,
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
) -> DecidedEpoch:
    """Answer the rate of `epoch` for the job: replay, rewind or a new decision.

    Unknown metrics (`None`) for an epoch not decided yet are the end metrics the job reported
    for the epoch before, if it did (a process that resumed after that report, or a new fit
    continuing a finished one).
    """
    principal.require_job(job_id)
    with write_transaction(engine) as connection:
        found = decision_store.get_job_for_decision(connection, job_id)
        if found is None:
            raise NotFound(f"there is no job {job_id!r}")
        job, latest_version = found
        now = utc_now()
        rewound_from: StoredDecision | None = None
        if job.last_epoch is not None and epoch <= job.last_epoch:
            stored = decision_store.first_active_decision_from(connection, job_id, epoch)
            if stored is not None and stored.epoch == epoch:
                known = stored.metrics if metrics is None else dict(metrics)
                if known == stored.metrics and steps_per_epoch in (None, stored.steps_per_epoch):
                    decision_store.mark_seen(connection, job_id, now)
                    return DecidedEpoch(record=stored, outcome=Outcome.REPLAYED, reductions=0)
                metrics = known
            rewound_from = stored
        if metrics is None and epoch > 0:
            before = decision_store.active_decision(connection, job_id, epoch - 1)
            if before is not None:
                metrics = before.end_metrics
        job = _follow_latest(connection, job, latest_version)
        job = _reported(connection, principal, job, epoch, now)
        return _decide_and_store(connection, job, epoch, metrics, steps_per_epoch, rewound_from)


def _reported(
    connection: Connection, principal: Principal, job: StoredJob, epoch: int, now: datetime
) -> StoredJob:
    """The job once it reported `epoch`: seen now, an epoch interval more when it follows the
    last one, and running again if it had ended (a continued fit)."""
    intervals = job.epoch_intervals
    if job.last_epoch is not None and epoch == job.last_epoch + 1:
        intervals = with_interval(intervals, (now - as_utc(job.updated_at)).total_seconds())
    reported = replace(job, last_seen_at=now, epoch_intervals=intervals)
    if job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        return reported
    reopened = replace(reported, status=JobStatus.RUNNING, revision=job.revision + 1)
    job_store.update_job(connection, reopened)
    job_store.record_event(connection, principal.actor, AuditAction.STATUS, job, reopened)
    return reopened


def _decide_and_store(
    connection: Connection,
    job: StoredJob,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    rewound_from: StoredDecision | None,
) -> DecidedEpoch:
    key = spec_key(job.spec)
    state_before: dict[str, Any] | None = job.state
    previous_epoch = job.last_epoch
    if rewound_from is not None:
        origin = effective_clock_origin(job.clock_origin, epoch)
        restorable = rewound_from.spec_key == key and rewound_from.clock_origin == origin
        state_before = rewound_from.state_before if restorable else None
        previous_epoch = decision_store.last_active_epoch_before(connection, job.job_id, epoch)
        decision_store.supersede_from(connection, job.job_id, epoch)
    try:
        answered = answer_epoch(
            load_spec(job.spec),
            state_before,
            epoch=epoch,
            metrics=metrics,
            steps_per_epoch=steps_per_epoch,
            clock_origin=job.clock_origin,
            settings=OperatorSettings(
                scale=job.scale,
                override=job.override,
                paused=job.paused,
                held_rate=job.held_rate,
                stopped=job.status == JobStatus.STOPPED,
            ),
        )
    except EvaluationError as error:
        raise EvaluationFailed(f"epoch {epoch}: {error}") from error
    answer = answered.answer
    record = DecisionRecord(
        job_id=job.job_id,
        epoch=epoch,
        metrics=dict(metrics) if metrics is not None else None,
        steps_per_epoch=steps_per_epoch,
        learning_rate=answer.learning_rate,
        step_learning_rates=answer.step_learning_rates,
        reason=answer.reason,
        stop=answer.stop,
        schedule_name=job.schedule_name,
        schedule_version=job.schedule_version,
        spec_key=key,
        clock_origin=answered.clock_origin,
        state_before=state_before,
        state_after=answered.decision.state,
        gap=epoch - (previous_epoch if previous_epoch is not None else -1) - 1,
        rewound=rewound_from is not None,
        superseded=False,
        decided_at=utc_now(),
        end_metrics=None,
    )
    ended = epoch - 1 if metrics is not None and previous_epoch == epoch - 1 else None
    decision_store.store_decision(
        connection, record, job, held_rate=answered.held_rate, ended_epoch=ended
    )
    outcome = Outcome.REWOUND if rewound_from is not None else Outcome.NEW
    return DecidedEpoch(record=record, outcome=outcome, reductions=answered.decision.reductions)


def record_epoch_end(
    engine: Engine,
    principal: Principal,
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float],
) -> StoredDecision:
    """Record the metrics observed at the end of `epoch` (the last epoch of a fit: the others'
    reach the service with the next epoch's decision); the epoch's decision as it is now.

    Reporting the same metrics again changes nothing. Once the next epoch is decided, its
    decision was made from this epoch's end metrics, so other metrics are a conflict.
    """
    principal.require_job(job_id)
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        decision = decision_store.active_decision(connection, job_id, epoch)
        if decision is None:
            raise Conflict(f"epoch {epoch} of job {job_id!r} has no decision to report the end of")
        observed = dict(metrics)
        following = decision_store.active_decision(connection, job_id, epoch + 1)
        if following is not None and following.metrics != observed:
            raise Conflict(
                f"epoch {epoch + 1} of job {job_id!r} was already decided from other metrics "
                f"of epoch {epoch}; send them with the decision of epoch {epoch + 1} instead"
            )
        decision_store.record_end_metrics(connection, job_id, epoch, observed)
        decision_store.mark_seen(connection, job_id, utc_now())
    return replace(decision, end_metrics=observed)


def job_history(
    engine: Engine,
    principal: Principal,
    job_id: str,
    *,
    include_superseded: bool,
    after: int | None,
    limit: int | None,
) -> list[StoredDecision]:
    """The job's decisions after the id `after`, in the order they were made (all of them when
    no limit)."""
    principal.require_job(job_id)
    with read_transaction(engine) as connection:
        if job_store.get_job(connection, job_id) is None:
            raise NotFound(f"there is no job {job_id!r}")
        return decision_store.list_decisions(
            connection, job_id, include_superseded=include_superseded, after_id=after, limit=limit
        )
