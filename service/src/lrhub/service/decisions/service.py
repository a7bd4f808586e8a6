"""The decision (`decide_epoch`) and the decision history; see docs/design.md "The decision".

A decision holds no lock while it computes. It reads the job (or takes the row this process last
wrote from `JobRowCache`), decides with the engine, then writes the job and the decision with a
compare-and-set on the job's `row_version` and its schedule's latest version. A write that finds
either changed (another request, replica or PATCH got there first) writes nothing, and the epoch is
decided again from a fresh read, where a concurrent retry of the same epoch turns into a replay.
On PostgreSQL the common write is one autocommit statement (the insert runs only if the
compare-and-set updated the job), so a decision from a cached row is one round trip; on SQLite
it is the compare-and-set, the insert and the end metrics in one transaction. Both run on the
driver's own cursor (`DriverStatement`: no SQLAlchemy work per statement, which costs more than
SQLite's own execution of these statements).

Rewind rule: the state before the rewound epoch is restored only if it belongs to the
configuration in force now (same spec, same clock origin). A PATCH between that epoch and now
changes take effect at the next decided epoch, so the current configuration decides the epoch
again, and a state saved for another spec or clock starts fresh instead.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row

from lrhub.schedules import (
    Cooldown,
    EvaluationError,
    OperatorSettings,
    StepRule,
    answer_epoch,
    effective_clock_origin,
    interval_steps,
)
from lrhub.service.auth.principal import Principal
from lrhub.service.catalog import store as catalog_store
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.decisions import store as decision_store
from lrhub.service.decisions.cache import JobRowCache
from lrhub.service.decisions.drift import drifted, momentum_drifted
from lrhub.service.decisions.model import (
    AppliedRates,
    AppliedReport,
    DecisionKind,
    DecisionReply,
    InForce,
    NewDecision,
    SeriesPoint,
    StoredDecision,
)
from lrhub.service.errors import Conflict, EvaluationFailed, NotFound, Unavailable
from lrhub.service.evaluation import IN_PROCESS, Evaluator
from lrhub.service.fields import JobStatus
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import AuditAction, StoredJob
from lrhub.service.jobs.pending import switches
from lrhub.service.jobs.staleness import with_interval
from lrhub.service.limits import Limits, evaluation_steps
from lrhub.service.storage.database import (
    driver_write,
    read_transaction,
    single_statement_read,
    write_transaction,
)
from lrhub.service.stored_specs import load_spec, spec_key
from lrhub.service.webhooks import service as webhook_service

FOLLOW_ACTOR = "lrhub:follow-latest"
# Each lost compare-and-set means another write of the job landed first; a retry of the same
# epoch then replays. Only a job changed this often, in the few milliseconds a decision takes,
# runs out of attempts (and is answered 503: the client retries).
MAX_ATTEMPTS = 16


@dataclass(frozen=True)
class _Read:
    """What a decision is computed from, all as of one version of the job row."""

    job: StoredJob
    latest_version: int  # of the job's schedule; 0 for an inline spec
    stored: StoredDecision | None = None  # the decision in force at or after the epoch
    previous_epoch: int | None = None  # for a rewind: the last epoch in force before it
    latest_spec: str | None = None  # a newer version's spec, for a job following latest
    # The end metrics the job reported for the epoch before (when it sent none with this one).
    previous_end_metrics: dict[str, float] | None = None


def _read(engine: Engine, job_id: str, epoch: int, *, metrics_known: bool = True) -> _Read:
    with single_statement_read(engine) as connection:
        found = decision_store.read_job_for_decision(connection, job_id)
    if found is None:
        raise NotFound(f"there is no job {job_id!r}")
    job, latest = found
    rewinding = job.last_epoch is not None and epoch <= job.last_epoch
    looks_back = not metrics_known and epoch > 0
    if not rewinding and not looks_back and not switches(job, latest):
        return _Read(job, latest)
    # Rarely needed, and consistent with the job read above as long as the compare-and-set
    # succeeds: every write of a decision or a schedule switch changes the job row's version.
    with read_transaction(engine) as connection:
        stored = previous = None
        if rewinding:
            stored = decision_store.first_active_decision_from(connection, job_id, epoch)
            previous = decision_store.last_active_epoch_before(connection, job_id, epoch)
        latest_spec = None
        if switches(job, latest):
            assert job.schedule_name is not None
            version = catalog_store.get_version(connection, job.schedule_name, latest)
            latest_spec = version.spec if version is not None else None
        previous_end = None
        if looks_back:
            before = decision_store.active_decision(connection, job_id, epoch - 1)
            previous_end = before.end_metrics if before is not None else None
    return _Read(job, latest, stored, previous, latest_spec, previous_end)


def decide_epoch(
    engine: Engine,
    cache: JobRowCache,
    limits: Limits,
    evaluator: Evaluator,
    principal: Principal,
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    applied: AppliedRates | None = None,
) -> DecisionReply:
    """Answer the rate of `epoch` for the job: replay, rewind or a new decision.

    Unknown metrics (`None`) for an epoch not decided yet are the end metrics the job reported
    for the epoch before, if it did (a process that resumed after that report, or a new fit
    continuing a finished one). `applied`, what the job's optimizer held at the end of the
    epoch before, is recorded on that epoch's decision when it is the job's last one (see
    `_check_applied`); a replay or a rewind records none.
    """
    principal.require_job(job_id, change=True)
    report: AppliedReport | None = None
    for _attempt in range(MAX_ATTEMPTS):
        cached = cache.get(job_id)
        if (
            metrics is not None
            and cached is not None
            and (cached[0].last_epoch is None or epoch > cached[0].last_epoch)
        ):
            read = _Read(*cached)
        else:
            read = _read(engine, job_id, epoch, metrics_known=metrics is not None)
        principal.require_owner(read.job.creator_token)
        rewound_from: StoredDecision | None = None
        epoch_metrics = metrics
        if read.job.last_epoch is not None and epoch <= read.job.last_epoch:
            stored = read.stored
            if stored is not None and stored.epoch == epoch:
                known = stored.metrics if metrics is None else dict(metrics)
                if known == stored.metrics and steps_per_epoch in (None, stored.steps_per_epoch):
                    _mark_seen(engine, job_id)
                    return _replayed(engine, evaluator, read.job, stored)
                epoch_metrics = known
            rewound_from = stored
        if epoch_metrics is None and epoch > 0:
            epoch_metrics = read.previous_end_metrics
        decided = _decide(
            read, limits, evaluator, principal, epoch, epoch_metrics, steps_per_epoch, rewound_from
        )
        if applied is not None and rewound_from is None and read.job.last_epoch == epoch - 1:
            if report is None or report.epoch != epoch - 1:
                in_force = cache.in_force(read.job)
                report = _check_applied(engine, evaluator, read.job, epoch - 1, applied, in_force)
            decided = replace(
                decided, result=replace(decided.result, applied=report), applied=report
            )
        if _store(engine, cache, read, decided):
            cache.put(decided.job, read.latest_version, InForce.of(decided.result.record))
            return decided.result
        cache.drop(job_id)
    raise Unavailable(f"job {job_id!r} changed {MAX_ATTEMPTS} times while deciding; retry")


@dataclass(frozen=True)
class _Decided:
    """A decision computed from a `_Read`: the job row after it, and the answer."""

    job: StoredJob
    result: DecisionReply
    switched: StoredJob | None  # the job moved to a newer version of its schedule: as it was then
    reopened: StoredJob | None  # a finished job reported again: running once more, as then
    ended_epoch: int | None  # the epoch whose end metrics this decision's metrics are
    actor: str
    applied: AppliedReport | None = None  # what the job applied during the epoch before


def _check_applied(
    engine: Engine,
    evaluator: Evaluator,
    job: StoredJob,
    epoch: int,
    applied: AppliedRates,
    known: InForce | None = None,
) -> AppliedReport | None:
    """`applied` checked against what was in force at the last step of `epoch`: `known` when
    it is that epoch's, else read back from the epoch's decision (its per-step rates derived
    again); None when the epoch has no decision in force."""
    in_force = known if known is not None and known.epoch == epoch else None
    if in_force is None:
        with single_statement_read(engine) as connection:
            stored = decision_store.active_decision(connection, job.job_id, epoch)
        if stored is None:
            return None
        in_force = InForce.of(_replayed(engine, evaluator, job, stored).record)
    rate, momentum = in_force.learning_rate, in_force.momentum
    drift = drifted(applied.learning_rate, rate) or momentum_drifted(applied.momentum, momentum)
    return AppliedReport(epoch, applied, rate, momentum, drift)


def _mark_seen(engine: Engine, job_id: str) -> None:
    """A replayed decision still counts as the job reporting."""
    with write_transaction(engine) as connection:
        decision_store.mark_seen(connection, job_id, utc_now())


def _reported(job: StoredJob, epoch: int, now: datetime) -> dict[str, Any]:
    """What changes in `job` once it reported `epoch`: seen now, an epoch interval more when it
    follows the last one, and running again if it had ended (a continued fit). As changes, not
    a changed job: the decision makes its own changes in the same copy of the row."""
    changes: dict[str, Any] = {"last_seen_at": now}
    if job.last_epoch is not None and epoch == job.last_epoch + 1:
        interval = (now - as_utc(job.updated_at)).total_seconds()
        changes["epoch_intervals"] = with_interval(job.epoch_intervals, interval)
    if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
        changes |= {"status": JobStatus.RUNNING, "revision": job.revision + 1}
    return changes


def _decide(
    read: _Read,
    limits: Limits,
    evaluator: Evaluator,
    principal: Principal,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    rewound_from: StoredDecision | None,
) -> _Decided:
    job = read.job
    switched = None
    if read.latest_spec is not None:
        job = switched = job_store.changed(
            job, schedule_version=read.latest_version, spec=read.latest_spec, state=None
        )
    now = utc_now()
    reported = _reported(job, epoch, now)
    # A finished job reported again: as it was reopened, for its audit event.
    reopened = replace(job, **reported) if "status" in reported else None
    key = spec_key(job.spec)
    state_before: dict[str, Any] | None = job.state
    previous_epoch = job.last_epoch
    if rewound_from is not None:
        origin = effective_clock_origin(job.clock_origin, epoch)
        restorable = rewound_from.spec_key == key and rewound_from.clock_origin == origin
        state_before = rewound_from.state_before if restorable else None
        previous_epoch = read.previous_epoch
    spec = load_spec(job.spec)
    cost = limits.check_decision(spec, steps_per_epoch)
    settings = OperatorSettings(
        scale=job.scale,
        override=job.override,
        paused=job.paused,
        held_rate=job.held_rate,
        stopped=job.status == JobStatus.STOPPED,
        cooldown=Cooldown.of_document(job.cooldown) if job.cooldown is not None else None,
    )
    try:
        # The pure computation only, in the evaluation pool when costly: the compare-and-set
        # write below decides whether it counts.
        answered = evaluator.run(
            cost,
            answer_epoch,
            spec,
            state_before,
            epoch=epoch,
            metrics=metrics,
            steps_per_epoch=steps_per_epoch,
            clock_origin=job.clock_origin,
            settings=settings,
        )
    except EvaluationError as error:
        raise EvaluationFailed(f"epoch {epoch}: {error}") from error
    answer = answered.answer
    rewound = rewound_from is not None
    step_rule = None
    if steps_per_epoch is not None:
        step_rule = StepRule.of(replace(settings, cooldown=answered.cooldown))
    record = NewDecision(
        job_id=job.job_id,
        epoch=epoch,
        metrics=dict(metrics) if metrics is not None else None,
        steps_per_epoch=steps_per_epoch,
        learning_rate=answer.learning_rate,
        step_learning_rates=answer.step_learning_rates,
        step_scale=step_rule.scale if step_rule is not None else None,
        step_fixed=step_rule.fixed if step_rule is not None else None,
        reason=answer.reason,
        stop=answer.stop,
        reductions=answered.decision.reductions,
        schedule_name=job.schedule_name,
        schedule_version=job.schedule_version,
        spec_key=key,
        clock_origin=answered.clock_origin,
        state_before=state_before,
        state_after=answered.decision.state,
        gap=epoch - (previous_epoch if previous_epoch is not None else -1) - 1,
        rewound=rewound,
        superseded=False,
        decided_at=now,
        end_metrics=None,
        momentum=answer.momentum,
        step_momentums=answer.step_momentums,
        step_cooldown=_cooldown_document(step_rule.cooldown if step_rule is not None else None),
    )
    after = job_store.changed(
        job,
        **reported,
        last_epoch=epoch,
        learning_rate=answer.learning_rate,
        state=answered.decision.state,
        held_rate=answered.held_rate,
        updated_at=now,
        cooldown=_cooldown_document(answered.cooldown),
        pending_epoch=None,  # this decision took in whatever change was pending
    )
    kind = DecisionKind.REWOUND if rewound else DecisionKind.NEW
    result = DecisionReply(record=record, kind=kind, spec=job.spec)
    ended = epoch - 1 if metrics is not None and previous_epoch == epoch - 1 else None
    return _Decided(
        job=after,
        result=result,
        switched=switched,
        reopened=reopened,
        ended_epoch=ended,
        actor=principal.actor,
    )


def _cooldown_document(cooldown: Cooldown | None) -> dict[str, Any] | None:
    return cooldown.as_document() if cooldown is not None else None


def _store(engine: Engine, cache: JobRowCache, read: _Read, decided: _Decided) -> bool:
    """Write the decision if the job is still as read; False (nothing written) otherwise."""
    record = decided.result.record
    if record.steps_per_epoch is not None and not cache.spec_kept(record.spec_key):
        # What its per-step rates are derived from on read; kept once, in its own statement
        # (harmless when the decision then loses its compare-and-set).
        with write_transaction(engine) as connection:
            decision_store.store_spec_text(connection, record.spec_key, decided.job.spec)
        cache.note_spec_kept(record.spec_key)
    applied = decided.applied
    simple = (
        not record.rewound
        and decided.switched is None
        and decided.reopened is None
        and not webhook_service.raises_events(stop=record.stop, reductions=record.reductions)
        and (applied is None or (not applied.drift and applied.epoch == decided.ended_epoch))
    )
    if simple:
        with driver_write(engine) as write:
            return decision_store.decide_on_driver(
                write,
                read.job,
                read.latest_version,
                decided.job,
                record,
                decided.ended_epoch,
                applied,
            )
    with write_transaction(engine) as connection:
        if not decision_store.compare_and_set_job(
            connection, read.job, read.latest_version, decided.job
        ):
            return False
        if record.rewound:
            decision_store.supersede_from(connection, record.job_id, record.epoch)
        decision_store.insert_decision(connection, record, decided.ended_epoch)
        if applied is not None:
            _record_applied(connection, decided.job, applied)
        if webhook_service.raises_events(stop=record.stop, reductions=record.reductions):
            webhook_service.record_decision(connection, decided.job, _event_fields(record))
        if decided.switched is not None:
            job_store.record_event(
                connection, FOLLOW_ACTOR, AuditAction.UPDATE, read.job, decided.switched
            )
        if decided.reopened is not None:
            job_store.record_event(
                connection, decided.actor, AuditAction.STATUS, read.job, decided.reopened
            )
    return True


def _record_applied(connection: Connection, job: StoredJob, report: AppliedReport) -> None:
    """Inside a write transaction: record what `job` applied, and a drift's webhook event."""
    decision_store.record_applied(connection, job.job_id, report)
    if report.drift:
        webhook_service.record_drift(
            connection,
            job,
            {
                "epoch": report.epoch,
                "learning_rate": report.in_force,
                "applied_learning_rate": report.applied.learning_rate,
                "momentum": report.momentum_in_force,
                "applied_momentum": report.applied.momentum,
            },
        )


def _event_fields(record: NewDecision) -> dict[str, Any]:
    """What a decision's webhook events say about it."""
    return {
        "epoch": record.epoch,
        "learning_rate": record.learning_rate,
        "reason": record.reason,
        "reductions": record.reductions,
        "stop": record.stop,
        "metrics": record.metrics,
    }


def record_epoch_end(
    engine: Engine,
    principal: Principal,
    job_id: str,
    epoch: int,
    metrics: Mapping[str, float],
    applied: AppliedRates | None = None,
    evaluator: Evaluator = IN_PROCESS,
) -> tuple[StoredDecision, AppliedReport | None]:
    """Record the metrics observed at the end of `epoch` (the last epoch of a fit: the others'
    reach the service with the next epoch's decision), and what its optimizer `applied`; the
    epoch's decision as it is now, and the applied report checked.

    Reporting the same metrics again changes nothing. Once the next epoch is decided, its
    decision was made from this epoch's end metrics, so other metrics are a conflict.
    """
    principal.require_job(job_id, change=True)
    report = None
    if applied is not None:
        with single_statement_read(engine) as connection:
            current = job_store.get_job(connection, job_id)
        if current is not None:
            principal.require_owner(current.creator_token)
            report = _check_applied(engine, evaluator, current, epoch, applied)
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        principal.require_owner(job.creator_token)
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
        if report is not None:
            _record_applied(connection, job, report)
        # A new row version: a decision computed before this report decides again after it.
        job_store.update_job(connection, job_store.changed(job, last_seen_at=utc_now()))
        text = job.spec
        if _derives_step_rates(decision) and spec_key(text) != decision.spec_key:
            text = decision_store.spec_texts_of(connection, [decision.spec_key]).get(
                decision.spec_key, text
            )
    if report is not None:
        decision = replace(
            decision,
            applied_learning_rate=report.applied.learning_rate,
            applied_momentum=report.applied.momentum,
            drift=report.drift,
        )
    return _with_step_rates(replace(decision, end_metrics=observed), text), report


def job_history(
    engine: Engine,
    principal: Principal,
    job_id: str,
    *,
    include_superseded: bool,
    after: int | None,
    limit: int | None,
    with_step_rates: bool = True,
) -> Iterator[StoredDecision]:
    """The job's decisions after the id `after`, in the order they were made (all of them when
    no limit). Their per-step rates are derived as the iterator reaches each (after the read
    transaction), so a caller that stops early computes no more; without `with_step_rates`
    they stay None."""
    principal.require_job(job_id, change=False)
    with read_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        principal.require_owner(job.creator_token)
        found = decision_store.list_decisions(
            connection, job_id, include_superseded=include_superseded, after_id=after, limit=limit
        )
        texts = {}
        if with_step_rates:
            keys = {decision.spec_key for decision in found if _derives_step_rates(decision)}
            texts = decision_store.spec_texts_of(connection, keys)
    return (_with_step_rates(decision, texts.get(decision.spec_key)) for decision in found)


# Epochs read per database round trip while a series page is built: a page that stops early at
# its byte bound (a job reporting many metrics) reads little more than it shows.
SERIES_READ_ROWS = 2000


def job_series(
    engine: Engine, principal: Principal, job_id: str, *, after_epoch: int | None, limit: int
) -> Iterator[SeriesPoint]:
    """The job's rate curve: the decision in force for each epoch after `after_epoch`, by epoch,
    at most `limit` of them, read a few thousand at a time as the iterator reaches them (the
    first read, which checks the job, before this returns)."""
    principal.require_job(job_id, change=False)

    def read(after: int | None, rows: int, check: bool) -> list[SeriesPoint]:
        with read_transaction(engine) as connection:
            if check:
                job = job_store.get_job(connection, job_id)
                if job is None:
                    raise NotFound(f"there is no job {job_id!r}")
                principal.require_owner(job.creator_token)
            return decision_store.list_series(connection, job_id, after_epoch=after, limit=rows)

    first = read(after_epoch, min(limit, SERIES_READ_ROWS), check=True)

    def points() -> Iterator[SeriesPoint]:
        chunk, left = first, limit
        while chunk:
            yield from chunk
            left -= len(chunk)
            if left == 0 or len(chunk) < SERIES_READ_ROWS:
                return
            chunk = read(chunk[-1].epoch, min(left, SERIES_READ_ROWS), check=False)

    return points()


# Rows read per database round trip for several jobs' series: a comparison of 50 jobs of 1,000
# epochs is one read; a page that stops early at its byte bound reads little more than it shows.
SERIES_OF_JOBS_READ_ROWS = 50_000


def series_of_jobs(
    engine: Engine,
    limits: Limits,
    principal: Principal,
    job_ids: Collection[str],
    fields: Sequence[str],
    *,
    after: tuple[str, int] | None,
    limit: int,
) -> Iterator[Row[Any]]:
    """Several jobs' rate curves as one stream of rows (job id, epoch, then the value of each of
    `fields`), by job id then epoch, after the position `after`, at most `limit` of them: each
    read is one query for all the jobs, SERIES_OF_JOBS_READ_ROWS at most, as the iterator
    reaches them. Each job is checked as `job_series` checks one (it exists and `principal` may
    read it) before this returns; the first unknown job, by id, is the NotFound."""
    limits.check_series_jobs(len(job_ids))
    for job_id in sorted(job_ids):
        principal.require_job(job_id, change=False)

    def read(connection: Connection, position: tuple[str, int] | None) -> list[Row[Any]]:
        rows = min(left, SERIES_OF_JOBS_READ_ROWS)
        return decision_store.list_series_of_jobs(
            connection, job_ids, fields, after=position, limit=rows
        )

    left = limit
    with read_transaction(engine) as connection:
        creators = job_store.creators_of(connection, job_ids)
        for job_id in sorted(job_ids):
            if job_id not in creators:
                raise NotFound(
                    f"query.jobs: there is no job {job_id!r}", members={"job_id": job_id}
                )
            principal.require_owner(creators[job_id])
        first = read(connection, after)

    def points() -> Iterator[Row[Any]]:
        nonlocal left
        chunk = first
        while chunk:
            yield from chunk
            left -= len(chunk)
            if left == 0 or len(chunk) < SERIES_OF_JOBS_READ_ROWS:
                return
            with read_transaction(engine) as connection:
                chunk = read(connection, (chunk[-1].job_id, chunk[-1].epoch))

    return points()


Record = TypeVar("Record", bound=NewDecision)


def _derives_step_rates(decision: NewDecision) -> bool:
    """A decision made with steps_per_epoch whose per-step rates are not at hand."""
    return decision.step_learning_rates is None and decision.step_scale is not None


def _with_step_rates(
    decision: Record, spec_text: str | None, evaluator: Evaluator = IN_PROCESS
) -> Record:
    """`decision` with its per-step rates derived again from what it was decided with."""
    if not _derives_step_rates(decision) or spec_text is None:
        return decision
    assert decision.steps_per_epoch is not None and decision.step_scale is not None
    spec = load_spec(spec_text)
    cost = evaluation_steps(spec, decision.steps_per_epoch)
    try:
        steps = evaluator.run(
            cost,
            interval_steps,
            spec,
            decision.state_before,
            epoch=decision.epoch,
            metrics=decision.metrics,
            steps_per_epoch=decision.steps_per_epoch,
            clock_origin=decision.clock_origin,
            rule=StepRule(
                scale=decision.step_scale,
                fixed=decision.step_fixed,
                cooldown=(
                    Cooldown.of_document(decision.step_cooldown)
                    if decision.step_cooldown is not None
                    else None
                ),
            ),
        )
    except EvaluationError:
        return decision  # it gave these rates once; a spec that no longer does has none to show
    momentums = steps.momentums if decision.momentum is not None else None
    return replace(decision, step_learning_rates=steps.rates, step_momentums=momentums)


def _replayed(
    engine: Engine, evaluator: Evaluator, job: StoredJob, stored: StoredDecision
) -> DecisionReply:
    """A stored decision answered again, with its per-step rates and the spec text they follow
    from."""
    text: str | None = job.spec
    if _derives_step_rates(stored) and spec_key(job.spec) != stored.spec_key:
        with single_statement_read(engine) as connection:
            text = decision_store.spec_texts_of(connection, [stored.spec_key]).get(stored.spec_key)
    record = _with_step_rates(stored, text, evaluator)
    return DecisionReply(record=record, kind=DecisionKind.REPLAYED, spec=text)
