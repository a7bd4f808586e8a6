"""Request and response bodies of `/v1/jobs` and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, model_validator

from lrhub.schedules import Cooldown, Spec
from lrhub.service.clock import as_utc, utc_now
from lrhub.service.fields import EngineState, JobStatus, Labels, Rate, Scale, ScheduleRef
from lrhub.service.http.schemas import RequestBody
from lrhub.service.jobs.model import AuditAction, Follow, StoredEvent, StoredJob
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.stored_specs import load_spec


class JobCreate(RequestBody):
    """`PUT /v1/jobs/{job_id}`: exactly one of `schedule` and `spec`."""

    schedule: ScheduleRef | None = None
    spec: Spec | None = None
    follow: Follow | None = None
    scale: Scale = 1.0
    labels: Labels = Field(default_factory=dict)


CooldownLength = Annotated[int, Field(ge=1, le=1_000_000_000, strict=True)]
CooldownShape = Literal["linear", "cosine", "1-sqrt"]


class CooldownRequest(RequestBody):
    """A decay to start at the job's next decision: over `steps` or `epochs` (exactly one),
    with the shape of Transformers' WSD decay, down to `min_learning_rate`, then held."""

    steps: CooldownLength | None = None
    epochs: CooldownLength | None = None
    shape: CooldownShape = Field(
        description="`linear` 1-p, `cosine` (1+cos(pi p))/2, `1-sqrt` 1-sqrt(p), as "
        "Transformers' warmup_stable_decay decays (p: the decay's progress, 0 to 1)."
    )
    min_learning_rate: Rate = 0.0

    @model_validator(mode="after")
    def _one_length(self) -> CooldownRequest:
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps and epochs")
        return self

    def cooldown(self) -> Cooldown:
        """The engine's cooldown, not started yet."""
        if self.steps is not None:
            return Cooldown(self.steps, "step", self.shape, self.min_learning_rate)
        assert self.epochs is not None
        return Cooldown(self.epochs, "epoch", self.shape, self.min_learning_rate)


class JobPatch(RequestBody):
    """`PATCH /v1/jobs/{job_id}`: every field optional; absent fields stay as they are."""

    schedule: ScheduleRef | None = None
    spec: Spec | None = None
    follow: Follow | None = None
    clock: Literal["continue", "restart"] | None = None
    scale: Scale | None = None
    override: Rate | None = None
    paused: StrictBool | None = None
    status: JobStatus | None = Field(
        default=None,
        description="`stopped` (the next answer says stop), `running` (resume), or the end of "
        "training: `completed`, `failed` (a job token may report these two for its own job).",
    )
    labels: Labels | None = None
    cooldown: CooldownRequest | None = Field(
        default=None,
        description="Start a decay from the rate the job would have at its next decision; "
        "`null` cancels one not yet finished. A new schedule or clock drops it.",
    )


class JobCooldown(BaseModel):
    """A job's cooldown: as given, and once its first decision started it, where and from
    which rate."""

    length: int
    unit: Literal["step", "epoch"]
    shape: CooldownShape
    min_learning_rate: float
    start: int | None = Field(description="The global step (or epoch) it started at.")
    start_rate: float | None = Field(description="The rate the job would have had then.")
    finished: bool = Field(description="Decayed to `min_learning_rate`, which it now holds.")

    @classmethod
    def of(cls, document: dict[str, Any]) -> JobCooldown:
        """The answer for a stored cooldown."""
        cooldown = Cooldown.of_document(document)
        return cls(
            length=cooldown.length,
            unit=cooldown.unit,
            shape=cooldown.shape,
            min_learning_rate=cooldown.min_learning_rate,
            start=cooldown.start,
            start_rate=cooldown.start_rate,
            finished=cooldown.finished,
        )


class JobSchedule(BaseModel):
    """Which named schedule a job uses (both null for an inline spec) and how it follows it."""

    name: str | None
    version: int | None
    follow: Follow


class Job(BaseModel):
    """A job's configuration and state."""

    job_id: str
    status: JobStatus
    schedule: JobSchedule
    spec: Spec
    scale: float
    override: float | None
    paused: bool
    labels: dict[str, str]
    clock_origin: int
    last_epoch: int | None
    learning_rate: float | None
    state: EngineState | None
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = Field(
        description="When the job last reported (a decision, an epoch's end or its status); null "
        "before that."
    )
    stale: bool = Field(
        description="Running, and silent for longer than LRHUB_STALE_AFTER (or 5x its median "
        "epoch interval when that is longer)."
    )
    cooldown: JobCooldown | None = Field(
        default=None, description="The decay an operator started, if any."
    )
    pending_epoch: int | None = Field(
        default=None,
        description="The epoch a change to the rate (schedule, clock, scale, override, pause, "
        "cooldown) made since the job's last decision takes effect at; null when none is "
        "pending. Labels and status are not changes to the rate; the next decision clears it.",
    )

    @classmethod
    def of(cls, job: StoredJob, *, stale_after: timedelta) -> Job:
        """The answer for a stored job, `stale` as of now."""
        return cls(
            job_id=job.job_id,
            status=job.status,
            schedule=JobSchedule(
                name=job.schedule_name, version=job.schedule_version, follow=job.follow
            ),
            spec=load_spec(job.spec),
            scale=job.scale,
            override=job.override,
            paused=job.paused,
            labels=job.labels,
            clock_origin=job.clock_origin,
            last_epoch=job.last_epoch,
            learning_rate=job.learning_rate,
            state=job.state,
            created_at=as_utc(job.created_at),
            updated_at=as_utc(job.updated_at),
            last_seen_at=as_utc(job.last_seen_at) if job.last_seen_at is not None else None,
            stale=is_stale(job, now=utc_now(), stale_after=stale_after),
            cooldown=JobCooldown.of(job.cooldown) if job.cooldown is not None else None,
            pending_epoch=job.pending_epoch,
        )


class JobCreated(Job):
    """The 201 answer that created a job: its token, shown this once."""

    token: str


class JobToken(BaseModel):
    """A job's new token, shown this once (the previous one no longer works)."""

    job_id: str
    token: str


class AuditEvent(BaseModel):
    """One audit event: who changed what on a job, and when."""

    id: int
    at: datetime
    actor: str
    action: AuditAction
    before: dict[str, Any] | None
    after: dict[str, Any]
    change_id: str | None = Field(
        description="The change this event is part of (`GET /v1/changes/{change_id}`)."
    )

    @classmethod
    def of(cls, event: StoredEvent) -> AuditEvent:
        """The answer for a stored event."""
        return cls(
            id=event.id,
            at=as_utc(event.at),
            actor=event.actor,
            action=event.action,
            before=event.before,
            after=event.after,
            change_id=event.change_id,
        )


def job_etag(job_id: str, revision: int) -> str:
    """A job's ETag: `"<job_id>#<revision>"` (its revision counts its changes)."""
    return f'"{job_id}#{revision}"'
