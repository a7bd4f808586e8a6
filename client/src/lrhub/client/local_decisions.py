"""Answers computed on the client, from the job's last spec and state, while lrhub is down.

The service and the client share the engine (`lrhub.schedules.decide`), so a rate computed here
is the rate the service would have answered for the same epoch and metrics, as long as nobody
changed the job (PATCH) during the outage: a change the client could not see is not applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lrhub.schedules import Cooldown, OperatorSettings, answer_epoch, parse_spec

from .models import EpochAnswer, Job, JobCooldown

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
    # The service's held rate: the job's rate when it was paused (a PATCH that pauses sets it).
    held_rate: float | None
    # The decay an operator started, started (`start`) by the decision that first applied it.
    cooldown: Cooldown | None = None

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
            cooldown=_cooldown(job.cooldown),
        )

    @property
    def settings(self) -> OperatorSettings:
        """The operator's settings, as the engine applies them."""
        return OperatorSettings(
            scale=self.scale,
            override=self.override,
            paused=self.paused,
            held_rate=self.held_rate,
            stopped=self.stopped,
            cooldown=self.cooldown,
        )


def _cooldown(cooldown: JobCooldown | None) -> Cooldown | None:
    if cooldown is None:
        return None
    return Cooldown(
        length=cooldown.length,
        unit=cooldown.unit,
        shape=cooldown.shape,
        min_learning_rate=cooldown.min_learning_rate,
        start=cooldown.start,
        start_rate=cooldown.start_rate,
    )


@dataclass(frozen=True)
class LocalAnswer:
    """The wire answer computed on the client while the service is unreachable, and the
    snapshot of the job after it."""

    answer: EpochAnswer
    snapshot: JobSnapshot


def answer_locally(
    snapshot: JobSnapshot,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
) -> LocalAnswer:
    """The answer the service would give for `epoch` of the job in `snapshot`.

    Raises the engine's `ScheduleError` when the spec cannot give a rate here. The service
    decides with the same `lrhub.schedules.answer_epoch`, so clock origin, operator settings and
    the pause's held rate follow the same rules on both sides.
    """
    answered = answer_epoch(
        parse_spec(snapshot.spec),
        snapshot.state,
        epoch=epoch,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
        clock_origin=snapshot.clock_origin,
        settings=snapshot.settings,
    )
    rate = answered.answer
    answer = EpochAnswer(
        job_id=snapshot.job_id,
        epoch=epoch,
        learning_rate=rate.learning_rate,
        step_learning_rates=rate.step_learning_rates,
        momentum=rate.momentum,
        step_momentums=rate.step_momentums,
        reason=f"{LOCAL_REASON_PREFIX}: {rate.reason}",
        stop=rate.stop,
        state=answered.decision.state,
        decided_at=datetime.now(UTC),
    )
    after = replace(
        snapshot,
        state=answered.decision.state,
        held_rate=answered.held_rate,
        cooldown=answered.cooldown,
    )
    return LocalAnswer(answer=answer, snapshot=after)
