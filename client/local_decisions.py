"""Decisions computed on the client, from the job's last spec and state, while lrhub is down.

The service and the client share the engine (`lrhub.schedules.decide`), so a rate computed here
is the rate the service would have answered for the same epoch and metrics, as long as nobody
changed the job (PATCH) during the outage: a change the client could not see is not applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lrhub.schedules import Decision as EngineDecision
from lrhub.schedules import decide, parse_spec

from .models import Decision, Job

LOCAL_REASON_PREFIX = "computed locally while lrhub is unreachable"


@dataclass(frozen=True)
class JobSnapshot:
    """What the client last learnt from the service about a job: enough to decide like it."""

    job_id: str
    spec: dict[str, Any]
    state: dict[str, Any] | None
    clock_origin: int
    scale: float
    override: float | None
    paused: bool
    stopped: bool
    # The service's held rate: the job's rate when it was paused (job_service.py sets it so).
    held_rate: float | None

    @classmethod
    def of(cls, job: Job) -> JobSnapshot:
        """The snapshot of a job as `GET /v1/jobs/{id}` (or `PUT`) answered it."""
        return cls(
            job_id=job.job_id,
            spec=job.spec,
            state=job.state,
            clock_origin=job.clock_origin,
            scale=job.scale,
            override=job.override,
            paused=job.paused,
            stopped=job.status == "stopped",
            held_rate=job.learning_rate if job.paused else None,
        )

    def after(self, decision: Decision) -> JobSnapshot:
        """The snapshot once the service (or `decide_locally`) made `decision`."""
        held_rate = self.held_rate
        if self.paused and held_rate is None:
            held_rate = decision.learning_rate  # paused before any decision: the first rate
        return replace(self, state=decision.state, held_rate=held_rate)


def decide_locally(
    snapshot: JobSnapshot,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
) -> Decision:
    """The decision the service would make for `epoch` of the job in `snapshot`.

    Raises the engine's `ScheduleError` when the spec cannot give a rate here. Mirrors
    `lrhub.service.decision_service._decide_and_store` and `_answered_rate`: clock origin capped
    at the epoch; override, else the held rate when paused, else rate x scale; `stop` when the
    job was stopped by an operator.
    """
    origin = min(snapshot.clock_origin, epoch)
    engine = decide(
        parse_spec(snapshot.spec),
        snapshot.state,
        epoch=epoch,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
        clock_origin=origin,
    )
    rate, step_rates, reason = _answered_rate(snapshot, engine)
    stop = engine.stop
    if snapshot.stopped:
        stop, reason = True, f"job stopped by an operator; {reason}"
    return Decision(
        job_id=snapshot.job_id,
        epoch=epoch,
        learning_rate=rate,
        step_learning_rates=step_rates,
        reason=f"{LOCAL_REASON_PREFIX}: {reason}",
        stop=stop,
        state=engine.state,
        decided_at=datetime.now(UTC),
    )


def _answered_rate(
    snapshot: JobSnapshot, decision: EngineDecision
) -> tuple[float, list[float] | None, str]:
    # The same precedence as the service's `_answered_rate` (service/decision_service.py).
    steps = decision.step_learning_rates
    fixed: float | None = None
    if snapshot.override is not None:
        fixed = snapshot.override
        reason = f"fixed rate {fixed:g} set by an operator (the schedule says: {decision.reason})"
    elif snapshot.paused and snapshot.held_rate is not None:
        fixed = snapshot.held_rate
        reason = f"paused: holding {fixed:g} (the schedule says: {decision.reason})"
    if fixed is not None:
        return fixed, [fixed] * len(steps) if steps is not None else None, reason
    if snapshot.scale == 1.0:
        return decision.learning_rate, steps, decision.reason
    scaled_steps = [rate * snapshot.scale for rate in steps] if steps is not None else None
    reason = f"{decision.reason} (scaled x{snapshot.scale:g})"
    return decision.learning_rate * snapshot.scale, scaled_steps, reason
