"""Use cases that change jobs: one job (PATCH) or every job a selector matches (bulk), each a
record in `changes` written before any job changes; and reading a change back.

A single-job change is one transaction: the record, the job, its audit event and what it did.
A bulk change writes its record first, then changes each job in a transaction of its own that
also records what it did to that job, so however far it gets, the record says exactly which
jobs changed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from lrhub.schedules import Cooldown
from lrhub.service.auth.principal import Principal
from lrhub.service.catalog import store as catalog_store
from lrhub.service.changes import store as change_store
from lrhub.service.changes.model import (
    BulkOutcome,
    ChangeResult,
    ChangeState,
    JobChange,
    StoredChange,
)
from lrhub.service.clock import utc_now
from lrhub.service.errors import (
    ChangeInterrupted,
    Conflict,
    InvalidChange,
    NotFound,
    TooManyMatches,
)
from lrhub.service.fields import JobStatus
from lrhub.service.jobs import service as job_service
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import AuditAction, Follow, StoredJob
from lrhub.service.jobs.pending import pending_epoch
from lrhub.service.jobs.schemas import JobPatch
from lrhub.service.jobs.selectors import Selector
from lrhub.service.jobs.store import selector_condition
from lrhub.service.revisions import ExpectedRevision, require_revision
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.stored_specs import canonical_text
from lrhub.service.webhooks import service as webhook_service

logger = logging.getLogger(__name__)

# A bulk change cut short by these (the database unreachable, a lock held past its bound) is
# answered 503 with its change id: the record says which jobs it changed.
_INTERRUPTIONS = (OperationalError, PoolTimeoutError)


# What a job token may report about its own job: how its training ended.
REPORTED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED})


def _is_status_report(body: JobPatch) -> bool:
    return body.model_fields_set == {"status"} and body.status in REPORTED_STATUSES


def _status_change(job: StoredJob, body: JobPatch) -> JobStatus | None:
    """The status a PATCH sets, if any. A reported end never overrides an operator's stop: the
    stop is why the training ended."""
    if body.status is None or body.status == job.status:
        return None
    if job.status == JobStatus.STOPPED and _is_status_report(body):
        return None
    return body.status


def _patched(connection: Connection, job: StoredJob, body: JobPatch) -> dict[str, Any]:
    """The columns a PATCH changes (see docs/http-api.md "Jobs")."""
    given = body.model_fields_set
    resumed = body.status == JobStatus.RUNNING
    if job.status == JobStatus.STOPPED and not resumed and given - {"labels", "status"}:
        raise Conflict(
            f"job {job.job_id!r} is stopped; only its labels can change until it is resumed "
            "(status: running)"
        )
    job_service.require_one_schedule(body.schedule, body.spec is not None, required=False)
    changes: dict[str, Any] = {}
    if body.schedule is not None or body.spec is not None:
        changes.update(
            job_service.schedule_choice(
                connection, body.schedule, body.spec is not None, body.follow
            )
        )
        if body.spec is not None:
            changes["spec"] = canonical_text(body.spec)
    elif body.follow is not None:
        if body.follow == Follow.LATEST and job.schedule_name is None:
            raise InvalidChange("follow", "an inline spec cannot follow 'latest'")
        changes["follow"] = body.follow
    schedule_switched = "spec" in changes and (
        changes["spec"] != job.spec or changes["schedule_version"] != job.schedule_version
    )
    if body.clock == "restart":
        changes["clock_origin"] = job.last_epoch + 1 if job.last_epoch is not None else 0
    elif body.clock == "continue" or schedule_switched:
        changes["clock_origin"] = 0
    if schedule_switched or body.clock is not None:
        changes["state"] = None  # a new schedule or clock starts with fresh engine state
    if body.scale is not None:
        changes["scale"] = body.scale
    if "override" in given:
        changes["override"] = body.override
    if body.paused is not None:
        changes["paused"] = body.paused
        changes["held_rate"] = job.learning_rate if body.paused else None
    status = _status_change(job, body)
    if status is not None:
        changes["status"] = status
    if body.labels is not None:
        changes["labels"] = dict(body.labels)
    if schedule_switched or body.clock is not None:
        changes["cooldown"] = None  # a cooldown decays the schedule it was given on
    if "cooldown" in given:
        cooldown = _cooldown_change(job, body)
        if cooldown != job.cooldown:  # cancelling none is no change (no audit event)
            changes["cooldown"] = cooldown
    return changes


def _cooldown_change(job: StoredJob, body: JobPatch) -> dict[str, Any] | None:
    """The job's cooldown after `body`: a new one (continuing from the rate of one started
    before), or none; a finished one cannot be cancelled, it already decayed."""
    current = Cooldown.of_document(job.cooldown) if job.cooldown is not None else None
    if body.cooldown is None:
        if current is not None and current.finished:
            raise Conflict(
                f"the cooldown of job {job.job_id!r} has finished: it holds "
                f"{current.min_learning_rate:g}; set a schedule, clock or override instead"
            )
        return None
    replaces = current if current is not None and current.start is not None else None
    return replace(body.cooldown.cooldown(), replaces=replaces).as_document()


def _apply_patch(
    connection: Connection,
    actor: str,
    job: StoredJob,
    body: JobPatch,
    *,
    reported: bool = False,
    change_id: str | None,
    dry_run: bool = False,
) -> StoredJob:
    """The row-locked `job` after `body` (the PATCH rule of `_patched`), stored with its audit
    event unless `dry_run`. A status report (`reported`) counts as the job having reported."""
    changes = _patched(connection, job, body)
    now = utc_now()
    last_seen_at = now if reported else job.last_seen_at
    if not changes:
        if reported and not dry_run:
            job = job_store.changed(job, last_seen_at=last_seen_at)
            job_store.update_job(connection, job)
        return job
    updated = job_store.changed(
        job, **changes, last_seen_at=last_seen_at, revision=job.revision + 1, updated_at=now
    )
    updated = replace(updated, pending_epoch=pending_epoch(job, updated))
    if dry_run:
        return updated
    job_store.update_job(connection, updated)
    job_store.record_event(connection, actor, _action(changes), job, updated, change_id=change_id)
    webhook_service.record_job_change(connection, actor, job, updated, change_id)
    return updated


def _action(changes: dict[str, Any]) -> AuditAction:
    status = changes.get("status")
    if status == JobStatus.STOPPED:
        return AuditAction.STOP
    return AuditAction.UPDATE if status is None else AuditAction.STATUS


def _new_change(
    actor: str,
    body: JobPatch,
    *,
    state: ChangeState,
    matched: int,
    job_id: str | None = None,
    selector: str | None = None,
    idempotency_key: str | None = None,
) -> StoredChange:
    return StoredChange(
        change_id=str(uuid.uuid4()),
        at=utc_now(),
        actor=actor,
        job_id=job_id,
        selector=selector,
        body=body.model_dump(mode="json", exclude_unset=True),
        state=state,
        matched=matched,
        idempotency_key=idempotency_key,
    )


def _change_one(
    connection: Connection,
    actor: str,
    job: StoredJob,
    body: JobPatch,
    *,
    change_id: str | None,
    reported: bool = False,
    dry_run: bool = False,
) -> tuple[StoredJob, JobChange]:
    """The locked `job` after `body`, and what the change did to it (recorded unless a dry
    run). A change the PATCH rule refuses raises for a single job; a bulk change catches it."""
    before = job_store.audit_snapshot(job)
    updated = _apply_patch(
        connection, actor, job, body, reported=reported, change_id=change_id, dry_run=dry_run
    )
    after = job_store.audit_snapshot(updated)
    outcome = BulkOutcome.CHANGED if after != before else BulkOutcome.UNCHANGED
    result = JobChange(job.job_id, before, after, outcome)
    if change_id is not None and not dry_run:
        change_store.record_job(connection, change_id, result)
    return updated, result


def change_job(
    engine: Engine,
    principal: Principal,
    job_id: str,
    body: JobPatch,
    expected_revision: ExpectedRevision | None,
) -> tuple[StoredJob, str]:
    """Change a job from its next decided epoch on; the changed job and the change's id. The
    change's record, the job, its audit event and the outcome are written in one transaction.

    A job's own token may report how its training ended (`completed`, `failed`); that counts as
    the job having reported. Everything else is for operators.
    """
    reported = _is_status_report(body)
    if reported:
        principal.require_job(job_id, change=True)
    else:
        principal.require_operator()
    # One transaction: the record is `applied` exactly when the job's change commits with it.
    change = _new_change(principal.actor, body, state=ChangeState.APPLIED, matched=1, job_id=job_id)
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        if job is None:
            raise NotFound(f"there is no job {job_id!r}")
        if reported:
            principal.require_owner(job.creator_token)
        require_revision(expected_revision, job.revision, f"job {job_id!r}")
        change_store.insert_change(connection, change)
        updated, _ = _change_one(
            connection, principal.actor, job, body, change_id=change.change_id, reported=reported
        )
        [answered] = job_service.shown(connection, [updated])
    return answered, change.change_id


def _bulk_job(
    connection: Connection,
    actor: str,
    job_id: str,
    condition: ColumnElement[bool],
    body: JobPatch,
    change_id: str | None,
    dry_run: bool,
) -> JobChange:
    """One job of a bulk change, in its own transaction: locked, matched again (`condition`,
    the selector's), changed."""
    job = job_store.get_job(connection, job_id, lock=not dry_run, where=condition)
    if job is None:
        result = JobChange(
            job_id, None, None, BulkOutcome.NO_LONGER_MATCHES, "changed or deleted meanwhile"
        )
    else:
        try:
            return _change_one(connection, actor, job, body, change_id=change_id, dry_run=dry_run)[
                1
            ]
        except (Conflict, InvalidChange, NotFound) as error:
            before = job_store.audit_snapshot(job)
            result = JobChange(job_id, before, before, BulkOutcome.REFUSED, error.detail)
    if change_id is not None and not dry_run:
        change_store.record_job(connection, change_id, result)
    return result


def change_jobs(
    engine: Engine,
    principal: Principal,
    selector: Selector,
    body: JobPatch,
    *,
    dry_run: bool,
    limit: int | None,
    after: str | None,
    bulk_max: int,
    idempotency_key: str | None = None,
) -> ChangeResult:
    """Apply one PATCH body to every job `selector` matches (after the id `after`), each job in
    its own transaction with the single-job rule; `dry_run` answers the same and stores nothing.

    The selector must not be empty. More matches than `bulk_max` are refused unless `limit`
    (at most `bulk_max`) says how many of them, in id order, may change; the answer then says
    where to continue. Cut short by the database, it raises ChangeInterrupted with the change's
    id; the record lists exactly the jobs changed before. A retry with the same
    `idempotency_key` resumes that change: only the jobs it did not reach are changed.
    """
    principal.require_operator()
    if not selector:
        raise InvalidChange("selector", "a bulk change needs a non-empty selector")
    if limit is not None and limit > bulk_max:
        raise InvalidChange("limit", f"at most {bulk_max} jobs per request (raise LRHUB_BULK_MAX)")
    condition = selector_condition(selector)
    with read_transaction(engine) as connection:
        if body.schedule is not None:
            catalog_store.resolve_reference(connection, body.schedule)  # unknown: 404 at once
        matched = job_store.count_jobs(connection, where=condition, after=after)
        if limit is None and matched > bulk_max:
            raise TooManyMatches(
                f"the selector matches {matched} jobs, more than LRHUB_BULK_MAX={bulk_max}; "
                "narrow it, or pass limit= to change that many (in id order) and continue "
                "with the answer's next_cursor"
            )
        page = limit if limit is not None else bulk_max
        ids = job_store.list_job_ids(connection, where=condition, after=after, limit=page)
    next_after = ids[-1] if ids and matched > len(ids) else None
    if dry_run:
        results = []
        for job_id in ids:
            with read_transaction(engine) as connection:
                results.append(
                    _bulk_job(connection, principal.actor, job_id, condition, body, None, True)
                )
        return ChangeResult(matched=matched, change_id=None, jobs=results, next_after=next_after)
    change = _new_change(
        principal.actor,
        body,
        state=ChangeState.APPLYING,
        matched=len(ids),
        selector=str(selector),
        idempotency_key=idempotency_key,
    )
    earlier = _start_change(engine, change)
    if earlier is None:
        results = _apply_to_each(engine, principal.actor, change.change_id, ids, condition, body)
    else:
        results = _resume(engine, principal.actor, earlier, change, ids, condition, body)
        change = earlier
    return ChangeResult(
        matched=matched, change_id=change.change_id, jobs=results, next_after=next_after
    )


def _start_change(engine: Engine, change: StoredChange) -> StoredChange | None:
    """Store the new `change`; or, when its Idempotency-Key names an earlier change of the
    same actor, that change (nothing stored)."""
    key = change.idempotency_key
    if key is not None:
        with read_transaction(engine) as connection:
            earlier = change_store.find_by_key(connection, change.actor, key)
        if earlier is not None:
            return earlier
    try:
        with write_transaction(engine) as connection:
            change_store.insert_change(connection, change)
    except IntegrityError:
        # The same key's first attempt stored it concurrently: this request resumes that one.
        if key is None:
            raise
        with read_transaction(engine) as connection:
            earlier = change_store.find_by_key(connection, change.actor, key)
        if earlier is None:
            raise
        return earlier
    return None


def _resume(
    engine: Engine,
    actor: str,
    earlier: StoredChange,
    retry: StoredChange,
    ids: list[str],
    condition: ColumnElement[bool],
    body: JobPatch,
) -> list[JobChange]:
    """A retry of `earlier` (the same Idempotency-Key): the jobs it did not reach yet are
    changed as part of it, the others are answered as it recorded them; a change already
    applied is only answered. A key reused for another selector or body is refused."""
    if (earlier.selector, earlier.body) != (retry.selector, retry.body):
        raise InvalidChange(
            "idempotency-key",
            f"this key was used for change {earlier.change_id} with another selector or body",
        )
    with read_transaction(engine) as connection:
        recorded = {
            job.job_id: job
            for job in change_store.list_jobs(
                connection, earlier.change_id, after=None, limit=len(ids) + earlier.matched
            )
        }
    if earlier.state != ChangeState.APPLIED:
        pending = [job_id for job_id in ids if job_id not in recorded]
        logger.info("change %s resumed for %d more jobs", earlier.change_id, len(pending))
        for result in _apply_to_each(engine, actor, earlier.change_id, pending, condition, body):
            recorded[result.job_id] = result
    return [recorded[job_id] for job_id in sorted(recorded)]


def _apply_to_each(
    engine: Engine,
    actor: str,
    change_id: str,
    ids: list[str],
    condition: ColumnElement[bool],
    body: JobPatch,
) -> list[JobChange]:
    results: list[JobChange] = []
    try:
        for job_id in ids:
            try:
                with write_transaction(engine) as connection:
                    results.append(
                        _bulk_job(connection, actor, job_id, condition, body, change_id, False)
                    )
            except IntegrityError:
                # A concurrent retry of this change (the same Idempotency-Key) recorded the job
                # first; this transaction, which would have changed it twice, is rolled back.
                with read_transaction(engine) as connection:
                    recorded = change_store.get_job(connection, change_id, job_id)
                if recorded is None:
                    raise
                results.append(recorded)
        with write_transaction(engine) as connection:
            change_store.set_state(connection, change_id, ChangeState.APPLIED)
    except BaseException as error:
        _mark_interrupted(engine, change_id, done=len(results), of=len(ids))
        if isinstance(error, _INTERRUPTIONS):
            raise ChangeInterrupted(change_id, done=len(results), of=len(ids)) from error
        raise
    return results


def _mark_interrupted(engine: Engine, change_id: str, *, done: int, of: int) -> None:
    """Best effort: with the database gone it stays `applying`, and its jobs still say what
    was done."""
    logger.warning("change %s interrupted after %d of %d jobs", change_id, done, of)
    try:
        with write_transaction(engine) as connection:
            change_store.set_state(connection, change_id, ChangeState.INTERRUPTED)
    except _INTERRUPTIONS:
        logger.warning("change %s could not be marked interrupted", change_id)


def get_change(
    engine: Engine, principal: Principal, change_id: str, after: str | None, limit: int
) -> tuple[StoredChange, list[JobChange]]:
    """The change, and what it did to each job by job id after the id `after` (at most
    `limit`), read in one transaction."""
    principal.require_viewer()
    with read_transaction(engine) as connection:
        change = change_store.get_change(connection, change_id)
        if change is None:
            raise NotFound(f"there is no change {change_id!r}")
        return change, change_store.list_jobs(connection, change_id, after=after, limit=limit)


def change_listed_job(
    connection: Connection, actor: str, change_id: str, job_id: str, body: JobPatch
) -> tuple[StoredJob | None, StoredJob | None, JobChange]:
    """One job of a change whose jobs were chosen by id (a rollout's cohort), in the caller's
    transaction: locked, changed by the single-job rule (a refusal is recorded, not raised),
    recorded. The job before and after (None when it is gone; both the same when refused)."""
    job = job_store.get_job(connection, job_id, lock=True)
    if job is None:
        result = JobChange(job_id, None, None, BulkOutcome.NO_LONGER_MATCHES, "deleted meanwhile")
        change_store.record_job(connection, change_id, result)
        return None, None, result
    try:
        updated, result = _change_one(connection, actor, job, body, change_id=change_id)
    except (Conflict, InvalidChange, NotFound) as error:
        before = job_store.audit_snapshot(job)
        result = JobChange(job_id, before, before, BulkOutcome.REFUSED, error.detail)
        change_store.record_job(connection, change_id, result)
        return job, job, result
    return job, updated, result


def new_listed_change(
    connection: Connection, actor: str, selector: str, body: JobPatch, matched: int
) -> str:
    """Store the record of a change of `matched` jobs chosen from `selector` by id (then
    applied with `change_listed_job` in the same transaction); its id."""
    change = _new_change(actor, body, state=ChangeState.APPLIED, matched=matched, selector=selector)
    change_store.insert_change(connection, change)
    return change.change_id


def restore_job(
    connection: Connection, actor: str, change_id: str, job_id: str, fields: dict[str, Any]
) -> StoredJob | None:
    """Put the job's `fields` (columns of `jobs`) back to the given values in the caller's
    transaction, audited under `change_id`; the restored job, or None when it is gone."""
    job = job_store.get_job(connection, job_id, lock=True)
    if job is None:
        return None
    if all(getattr(job, name) == value for name, value in fields.items()):
        return job
    updated = job_store.changed(job, **fields, revision=job.revision + 1, updated_at=utc_now())
    job_store.update_job(connection, updated)
    job_store.record_event(connection, actor, _action(fields), job, updated, change_id=change_id)
    webhook_service.record_job_change(connection, actor, job, updated, change_id)
    return updated


def set_matched(connection: Connection, change_id: str, matched: int) -> None:
    """A listed change grew (a rollout promoted to its control jobs): how many it set out to
    change now."""
    change_store.set_matched(connection, change_id, matched)
