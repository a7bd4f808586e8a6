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

from lrhub.schedules import OperatorSettings, apply_operator_settings, decide, parse_spec

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
    `lrhub.service.decision_service._decide_and_store`: the clock origin capped at the epoch, then
    the operator's settings applied by the engine's `apply_operator_settings`, as the service does.
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
    answered = apply_operator_settings(
        engine,
        OperatorSettings(
            scale=snapshot.scale,
            override=snapshot.override,
            paused=snapshot.paused,
            held_rate=snapshot.held_rate,
            stopped=snapshot.stopped,
        ),
    )
    return Decision(
        job_id=snapshot.job_id,
        epoch=epoch,
        learning_rate=answered.learning_rate,
        step_learning_rates=answered.step_learning_rates,
        reason=f"{LOCAL_REASON_PREFIX}: {answered.reason}",
        stop=answered.stop,
        state=engine.state,
        decided_at=datetime.now(UTC),
    )
