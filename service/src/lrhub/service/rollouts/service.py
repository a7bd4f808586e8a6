"""Use cases of rollouts: create one (the change applied to a canary cohort at once), read
them, promote, revert or abort them, and the judge's round (`judge_pending`).

Every use case is one transaction: a rollout's state moves together with the jobs it changes,
the audit events (under the rollout's change id) and the webhook outbox. The judge holds each
rollout's row lock while it acts, so two replicas never act on one rollout.
"""

from __future__ import annotations

import hashlib
import logging
import math
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from lrhub.service.auth.principal import Principal
from lrhub.service.changes import service as change_service
from lrhub.service.clock import utc_now
from lrhub.service.errors import Conflict, InvalidChange, NotFound
from lrhub.service.fields import JobStatus
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import Follow, StoredJob
from lrhub.service.jobs.schemas import JobPatch
from lrhub.service.jobs.selectors import parse_selector
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.rollouts import store as rollout_store
from lrhub.service.rollouts.judge import CANARY, CONTROL, Observation, judge
from lrhub.service.rollouts.model import (
    FINAL_STATES,
    Analysis,
    Mode,
    RolloutState,
    StoredRollout,
    Verdict,
)
from lrhub.service.rollouts.schemas import CanaryCount, RolloutCreate
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.webhooks import service as webhook_service
from lrhub.service.webhooks.model import WebhookEvent

logger = logging.getLogger(__name__)

# The job columns a PATCH can set: what a revert puts back, where the change set them.
_RESTORABLE = (
    "status",
    "schedule_name",
    "schedule_version",
    "follow",
    "spec",
    "scale",
    "override",
    "paused",
    "held_rate",
    "labels",
    "clock_origin",
    "state",
)
# The most jobs one rollout may hold (its cohorts are stored with it).
MAX_COHORT_JOBS = 10_000

_STATE_EVENTS = {
    RolloutState.PASSED: WebhookEvent.ROLLOUT_PASSED,
    RolloutState.FAILED: WebhookEvent.ROLLOUT_FAILED,
    RolloutState.PROMOTED: WebhookEvent.ROLLOUT_PROMOTED,
    RolloutState.REVERTED: WebhookEvent.ROLLOUT_REVERTED,
}


def canary_cohort(job_ids: list[str], size: int, seed: str) -> list[str]:
    """The `size` jobs of `job_ids` a seed chooses: the same seed and jobs always give the
    same cohort, whatever order the jobs come in. Sorted by job id."""
    ranked = sorted(
        job_ids, key=lambda job_id: hashlib.sha256(f"{seed}\0{job_id}".encode()).hexdigest()
    )
    return sorted(ranked[:size])


def _canary_size(canary: float | CanaryCount, matched: int) -> int:
    if isinstance(canary, CanaryCount):
        return canary.count
    return math.ceil(canary * matched)


def _restorable(before: StoredJob, after: StoredJob) -> dict[str, Any]:
    """The columns the change set, with their values before it (JSON-ready)."""
    return {
        name: getattr(before, name)
        for name in _RESTORABLE
        if getattr(before, name) != getattr(after, name)
    }


def _stored_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """`_restorable`'s values as read back from JSON, as StoredJob holds them."""
    restored = dict(fields)
    if "status" in restored:
        restored["status"] = JobStatus(restored["status"])
    if "follow" in restored:
        restored["follow"] = Follow(restored["follow"])
    return restored


def create_rollout(engine: Engine, principal: Principal, body: RolloutCreate) -> StoredRollout:
    """Choose the canary among the jobs the selector matches, record the change, apply it to
    the canary jobs and store the rollout with each job's baseline: one transaction."""
    principal.require_operator()
    change = body.change.model_dump(mode="json", exclude_unset=True)
    if not change:
        raise InvalidChange("change", "the change changes nothing: give at least one field")
    condition = job_store.selector_condition(parse_selector(body.selector))
    rollout_id = str(uuid.uuid4())
    seed = body.seed or rollout_id
    now = utc_now()
    with write_transaction(engine) as connection:
        matched = job_store.count_jobs(connection, where=condition, after=None)
        if matched == 0:
            raise InvalidChange("selector", "the selector matches no job")
        if matched > MAX_COHORT_JOBS:
            raise InvalidChange(
                "selector",
                f"the selector matches {matched} jobs; a rollout takes at most {MAX_COHORT_JOBS}",
            )
        job_ids = job_store.list_job_ids(connection, where=condition, after=None, limit=matched)
        size = _canary_size(body.canary, len(job_ids))
        if size >= len(job_ids):
            raise InvalidChange(
                "canary",
                f"a canary of {size} of the {len(job_ids)} matched jobs leaves no control job",
            )
        canary = canary_cohort(job_ids, size, seed)
        chosen = set(canary)
        control = [job_id for job_id in job_ids if job_id not in chosen]
        baselines = rollout_store.latest_values(
            rollout_store.metric_by_epoch(connection, job_ids, body.analysis.metric)
        )
        change_id = change_service.new_listed_change(
            connection, principal.actor, body.selector, body.change, len(canary)
        )
        restore = {}
        for job_id in canary:
            before, after, _ = change_service.change_listed_job(
                connection, principal.actor, change_id, job_id, body.change
            )
            if before is not None and after is not None:
                restore[job_id] = _restorable(before, after)
        rollout = StoredRollout(
            rollout_id=rollout_id,
            created_at=now,
            created_by=principal.actor,
            selector=body.selector,
            change=change,
            canary_request=(
                body.canary.model_dump()
                if isinstance(body.canary, CanaryCount)
                else {"fraction": body.canary}
            ),
            seed=seed,
            analysis=Analysis(
                metric=body.analysis.metric,
                mode=body.analysis.mode,
                epochs=body.analysis.epochs,
                max_regression=body.analysis.max_regression,
            ),
            promote=body.promote,
            revert=body.revert,
            state=RolloutState.ANALYZING,
            change_id=change_id,
            canary=canary,
            control=control,
            baselines={job_id: baselines[job_id] for job_id in job_ids if job_id in baselines},
            restore=restore,
            verdict=None,
            updated_at=now,
            judged_by=None,
        )
        rollout_store.insert_rollout(connection, rollout)
        _announce(connection, rollout, principal.actor)
    return rollout


def get_rollout(engine: Engine, principal: Principal, rollout_id: str) -> StoredRollout:
    """The rollout, with its verdict once there is one."""
    principal.require_viewer()
    with read_transaction(engine) as connection:
        rollout = rollout_store.get_rollout(connection, rollout_id)
    if rollout is None:
        raise NotFound(f"there is no rollout {rollout_id!r}")
    return rollout


def list_rollouts(
    engine: Engine, principal: Principal, after: str | None, limit: int
) -> list[StoredRollout]:
    """Rollouts by id after the id `after`."""
    principal.require_viewer()
    with read_transaction(engine) as connection:
        return rollout_store.list_rollouts(connection, after=after, limit=limit)


def count_by_state(engine: Engine) -> dict[str, int]:
    """Rollouts by state across the whole database, every state named (what `/metrics`
    reports, the same from every process)."""
    with read_transaction(engine) as connection:
        return {state.value: 0 for state in RolloutState} | rollout_store.count_by_state(connection)


def _announce(connection: Connection, rollout: StoredRollout, actor: str) -> None:
    """The rollout's new state on the event stream and, where it is one, as a webhook event
    for subscribers whose selector selects any of its jobs."""
    data: dict[str, Any] = {
        "rollout_id": rollout.rollout_id,
        "state": rollout.state.value,
        "change_id": rollout.change_id,
        "selector": rollout.selector,
        "canary": rollout.canary,
        "control": rollout.control,
    }
    if rollout.verdict is not None:
        data["verdict"] = {
            "passed": rollout.verdict.passed,
            "canary_median": rollout.verdict.canary_median,
            "control_median": rollout.verdict.control_median,
            "detail": rollout.verdict.detail,
        }
    rollout_store.insert_event(connection, rollout, actor, data)
    event = _STATE_EVENTS.get(rollout.state)
    if event is not None:
        webhook_service.record_fleet_event(
            connection, event, [*rollout.canary, *rollout.control], data
        )


def _promote(connection: Connection, rollout: StoredRollout, actor: str) -> None:
    """Apply the change to the control jobs too, under the rollout's change id."""
    body = JobPatch.model_validate(rollout.change)
    for job_id in rollout.control:
        change_service.change_listed_job(connection, actor, rollout.change_id, job_id, body)
    change_service.set_matched(
        connection, rollout.change_id, len(rollout.canary) + len(rollout.control)
    )


def _revert(connection: Connection, rollout: StoredRollout, actor: str) -> None:
    """Put each canary job's changed fields back, audited under the rollout's change id."""
    for job_id, fields in rollout.restore.items():
        change_service.restore_job(
            connection, actor, rollout.change_id, job_id, _stored_fields(fields)
        )


def _move(
    connection: Connection, rollout: StoredRollout, state: RolloutState, actor: str
) -> StoredRollout:
    """Put the rollout in `state`, doing what that state means, and announce it."""
    if state == RolloutState.PROMOTED:
        _promote(connection, rollout, actor)
    elif state == RolloutState.REVERTED:
        _revert(connection, rollout, actor)
    moved = replace(rollout, state=state, updated_at=utc_now(), judged_by=actor)
    rollout_store.save_outcome(connection, moved)
    _announce(connection, moved, actor)
    return moved


def act(
    engine: Engine, principal: Principal, rollout_id: str, state: RolloutState
) -> StoredRollout:
    """An operator's promote, revert or abort (`state`), at any time before the rollout ended."""
    principal.require_operator()
    with write_transaction(engine) as connection:
        rollout = rollout_store.get_rollout(connection, rollout_id, lock=True)
        if rollout is None:
            raise NotFound(f"there is no rollout {rollout_id!r}")
        if rollout.state in FINAL_STATES:
            raise Conflict(f"rollout {rollout_id} is {rollout.state.value} already")
        return _move(connection, rollout, state, principal.actor)


def _observations(
    connection: Connection, rollout: StoredRollout, now: datetime, stale_after: timedelta
) -> list[Observation]:
    series = rollout_store.metric_by_epoch(
        connection, rollout_store.job_ids_of(rollout), rollout.analysis.metric
    )
    observations = []
    for cohort, job_ids in ((CANARY, rollout.canary), (CONTROL, rollout.control)):
        for job_id in job_ids:
            job = job_store.get_job(connection, job_id)
            observations.append(
                Observation(
                    job_id=job_id,
                    cohort=cohort,
                    baseline=rollout.baselines.get(job_id),
                    metrics=series[job_id],
                    finished=job is None or job.status != JobStatus.RUNNING,
                    stale=job is not None and is_stale(job, now=now, stale_after=stale_after),
                )
            )
    return observations


def judge_pending(
    engine: Engine, *, stale_after: timedelta, judged_by: str, limit: int = 100
) -> list[StoredRollout]:
    """One round of the judge: each rollout under analysis gets its verdict once every job has
    reported, and is promoted or reverted when that is automatic. The rollouts it moved.

    The verdicts are first looked for in a read (no write lock while nothing is due); a rollout
    with one is then claimed, judged again and moved in a write transaction of its own that
    holds its row, so a rollout another judge holds or has moved is skipped."""
    with read_transaction(engine) as connection:
        due = [
            rollout.rollout_id
            for rollout in rollout_store.list_analyzing(connection, limit=limit)
            if _verdict(connection, rollout, stale_after) is not None
        ]
    moved = []
    for rollout_id in due:
        with write_transaction(engine) as connection:
            rollout = rollout_store.claim_analyzing(connection, rollout_id)
            if rollout is None:
                continue
            verdict = _verdict(connection, rollout, stale_after)
            if verdict is None:
                continue
            judged = replace(rollout, verdict=verdict)
            if verdict.passed:
                state = (
                    RolloutState.PROMOTED if rollout.promote == Mode.AUTO else RolloutState.PASSED
                )
            else:
                state = (
                    RolloutState.REVERTED if rollout.revert == Mode.AUTO else RolloutState.FAILED
                )
            if state in FINAL_STATES:
                # The verdict's own event first, then the action's.
                _announce(
                    connection, replace(judged, state=_verdict_state(verdict.passed)), judged_by
                )
            logger.info("rollout %s: %s (%s)", rollout_id, state.value, verdict.detail)
            moved.append(_move(connection, judged, state, judged_by))
    return moved


def _verdict(
    connection: Connection, rollout: StoredRollout, stale_after: timedelta
) -> Verdict | None:
    return judge(rollout.analysis, _observations(connection, rollout, utc_now(), stale_after))


def _verdict_state(passed: bool) -> RolloutState:
    return RolloutState.PASSED if passed else RolloutState.FAILED


def _next_state(rollout: StoredRollout, passed: bool) -> RolloutState:
    """Where a verdict takes the rollout: promoted or reverted when that is automatic, else
    passed or failed to wait for an operator."""
    if passed:
        return RolloutState.PROMOTED if rollout.promote == Mode.AUTO else RolloutState.PASSED
    return RolloutState.REVERTED if rollout.revert == Mode.AUTO else RolloutState.FAILED
