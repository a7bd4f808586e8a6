"""Response and request models of the lrhub HTTP API (docs/http-api.md), as the client sees them.

Unknown fields are ignored so an older client keeps working against a newer service. Specs stay
plain JSON objects here: the service validates them and reports the offending field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

ItemT = TypeVar("ItemT")

JsonObject = dict[str, Any]
JobStatus = Literal["running", "stopped", "completed", "failed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Page(_Model, Generic[ItemT]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[ItemT]
    next_cursor: str | None = None


class Schedule(_Model):
    """One version of a named schedule."""

    name: str
    version: int
    spec: JsonObject
    description: str = ""
    created_at: datetime
    versions: int | None = None
    etag: str | None = Field(default=None, description="The answer's ETag, for If-Match.")


class PreviewResult(_Model):
    """Rates a spec would give, computed without storing anything."""

    learning_rates: list[float]
    step_learning_rates: list[list[float]] | None = None
    reasons: list[str]
    reductions: list[int] = Field(
        default_factory=list, description="The plateau reductions each epoch's decision made."
    )
    stop_epoch: int | None = None


class JobSchedule(_Model):
    """Which named schedule a job follows (all None for an inline spec)."""

    name: str | None = None
    version: int | None = None
    follow: Literal["latest", "pinned"] | None = None


class JobCooldown(_Model):
    """A job's cooldown: as given, and once its first decision started it, where (global step
    or epoch) and from which rate."""

    length: int
    unit: Literal["step", "epoch"]
    shape: Literal["linear", "cosine", "1-sqrt"]
    min_learning_rate: float = 0.0
    start: int | None = None
    start_rate: float | None = None
    finished: bool = False


class Cooldown(BaseModel):
    """A decay to start at a job's next decision (`JobPatch.cooldown`): over `steps` or
    `epochs` (exactly one), with the shape of Transformers' WSD decay, down to
    `min_learning_rate`, then held."""

    model_config = ConfigDict(extra="forbid")

    steps: int | None = None
    epochs: int | None = None
    shape: Literal["linear", "cosine", "1-sqrt"]
    min_learning_rate: float = 0.0


class Job(_Model):
    """A training job's stored state."""

    job_id: str
    status: JobStatus
    schedule: JobSchedule
    spec: JsonObject
    scale: float = 1.0
    override: float | None = None
    paused: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    clock_origin: int = 0
    last_epoch: int | None = None
    learning_rate: float | None = None
    state: JsonObject | None = Field(default=None, description="Engine state; null before epoch 0.")
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None = Field(
        default=None, description="When the job last reported an epoch or its status."
    )
    stale: bool = Field(default=False, description="Running, but silent for too long.")
    cooldown: JobCooldown | None = Field(
        default=None, description="The decay an operator started, if any."
    )
    pending_epoch: int | None = Field(
        default=None,
        description="The epoch a change to the rate made since the last decision takes effect "
        "at; None when none is pending.",
    )
    token: str | None = Field(default=None, description="The job token, only when just created.")
    etag: str | None = Field(default=None, description="The answer's ETag, for If-Match.")


class JobPatch(BaseModel):
    """Changes to a job; only the fields that are set are sent. `status` stops (`stopped`),
    resumes (`running`) or reports how training ended (`completed`, `failed`: a job token may
    send these two for its own job).

    `JobPatch(override=None)` sends `"override": null` (clears the override), while `JobPatch()`
    leaves it alone; likewise `JobPatch(cooldown=None)` cancels a cooldown not yet finished.
    """

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = None
    spec: JsonObject | None = None
    follow: Literal["latest", "pinned"] | None = None
    clock: Literal["continue", "restart"] | None = None
    scale: float | None = None
    override: float | None = None
    paused: bool | None = None
    status: JobStatus | None = None
    labels: dict[str, str] | None = None
    cooldown: Cooldown | None = None


class ScheduleVersionRef(_Model):
    """The schedule version a decision was made with."""

    name: str | None = None
    version: int | None = None


class StepInputs(_Model):
    """What an epoch's per-step rates follow from (a decision asked with steps_per_epoch):
    `lrhub.schedules.interval_steps` computes them from these, as the service would."""

    steps_per_epoch: int
    spec: JsonObject
    state_before: JsonObject | None = None
    metrics: dict[str, float] | None = None
    clock_origin: int = 0
    scale: float = 1.0
    fixed: float | None = None
    cooldown: JsonObject | None = None
    """The started cooldown that replaced the schedule's rates, as `Cooldown.as_document`."""


class EpochAnswer(_Model):
    """The service's answer for one epoch of one job.

    Asked with steps_per_epoch, the service answers `steps` (what the epoch's step rates follow
    from) and the client computes `step_learning_rates` and `step_momentums` from it with the
    shared engine (`with_step_rates`), so the k rates never cross the wire.
    """

    job_id: str
    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None = None
    momentum: float | None = Field(
        default=None, description="The momentum (beta1) the schedule sets; None when none."
    )
    step_momentums: list[float] | None = None
    reason: str
    stop: bool = False
    schedule: ScheduleVersionRef = Field(default_factory=ScheduleVersionRef)
    replayed: bool = False
    rewound: bool = False
    gap: int = 0
    state: JsonObject = Field(default_factory=dict)
    decided_at: datetime
    steps: StepInputs | None = None

    def with_step_rates(self) -> EpochAnswer:
        """This answer with its per-step rates (and momentums, where scheduled) computed from
        `steps` by `lrhub.schedules.interval_steps`; itself when it has them or no `steps`."""
        inputs = self.steps
        if inputs is None or self.step_learning_rates is not None:
            return self
        # Imported here: `import lrhub.client` stays free of the engine.
        from lrhub.schedules import Cooldown, StepRule, interval_steps, parse_spec

        computed = interval_steps(
            parse_spec(inputs.spec, stored=True),
            inputs.state_before,
            epoch=self.epoch,
            metrics=inputs.metrics,
            steps_per_epoch=inputs.steps_per_epoch,
            clock_origin=inputs.clock_origin,
            rule=StepRule(
                scale=inputs.scale,
                fixed=inputs.fixed,
                cooldown=Cooldown.of_document(inputs.cooldown) if inputs.cooldown else None,
            ),
        )
        momentums = computed.momentums if self.momentum is not None else None
        return self.model_copy(
            update={"step_learning_rates": computed.rates, "step_momentums": momentums}
        )


class Applied(_Model):
    """What a job's optimizer held at the end of an epoch (its last step's rate), reported with
    the next request so the service can tell drift from the rate it answered."""

    learning_rate: float
    momentum: float | None = Field(
        default=None, description="The momentum (beta1) held, where the schedule sets one."
    )


class HistoryEntry(_Model):
    """One decided epoch in a job's history."""

    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None = None
    momentum: float | None = None
    step_momentums: list[float] | None = None
    reason: str
    stop: bool = False
    reductions: int = Field(default=0, description="The plateau reductions this decision made.")
    metrics: dict[str, float] | None = Field(
        default=None, description="Observed at the end of this epoch; None until reported."
    )
    input_metrics: dict[str, float] | None = Field(
        default=None, description="What the decision was made from: the epoch before's metrics."
    )
    schedule: ScheduleVersionRef = Field(default_factory=ScheduleVersionRef)
    superseded: bool = False
    decided_at: datetime
    applied_learning_rate: float | None = Field(
        default=None, description="What the optimizer held at this epoch's end, as reported."
    )
    applied_momentum: float | None = None
    drift: bool | None = Field(
        default=None,
        description="Whether the applied rate differs from the rate in force; None until known.",
    )


class Series(_Model):
    """A job's curve as columns (`Client.series`): entry i of every list belongs to epoch
    `epochs[i]` and its decision in force, oldest first."""

    epochs: list[int]
    learning_rates: list[float]
    reasons: list[str]
    reductions: list[int] = Field(
        default_factory=list, description="The plateau reductions each epoch's decision made."
    )
    decided_at: list[datetime]
    metrics: list[dict[str, float] | None] = Field(
        description="Observed at the end of each epoch; None until it reports them."
    )
    applied_learning_rates: list[float | None] = Field(
        default_factory=list, description="What each epoch's optimizer held at its end."
    )
    drift: list[bool | None] = Field(
        default_factory=list, description="Whether each epoch's applied rate drifted."
    )
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the epochs after these."
    )


class JobSeries(_Model):
    """One job's curve among several (`Client.series_of`): the columns asked for (`fields`;
    the others are None), entry i of each belonging to epoch `epochs[i]`."""

    job_id: str
    epochs: list[int]
    learning_rates: list[float] | None = None
    reasons: list[str] | None = None
    reductions: list[int] | None = None
    decided_at: list[datetime] | None = None
    metrics: list[dict[str, float] | None] | None = None
    applied_learning_rates: list[float | None] | None = None
    drift: list[bool | None] | None = None


class SeriesOfJobs(_Model):
    """Several jobs' curves (`Client.series_of`), by job id. With a `next_cursor`, the page
    stopped in a job: the next page (same jobs, `cursor`) goes on with that job's next epochs."""

    items: list[JobSeries]
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor`, with the same jobs, for the rest."
    )


class AuditEvent(_Model):
    """One audit-log entry: who changed a job, when, before and after."""

    id: int
    at: datetime
    actor: str
    action: str
    before: JsonObject | None = None
    after: JsonObject | None = None
    change_id: str | None = Field(
        default=None, description="The change it is part of (`Client.change`)."
    )


class BulkJob(_Model):
    """One matching job of a bulk change: configuration before and after, and its outcome
    (`changed`, `unchanged`, `refused`, `no_longer_matches`)."""

    job_id: str
    before: JsonObject | None = None
    after: JsonObject | None = None
    outcome: str
    detail: str | None = None


class BulkChange(_Model):
    """The answer of a bulk change (`Client.patch_jobs`)."""

    matched: int
    change_id: str | None = None
    dry_run: bool = False
    jobs: list[BulkJob] = Field(default_factory=list)
    next_cursor: str | None = None


class Change(_Model):
    """A change's record (`Client.change`): who asked for what and when, of which job
    (`job_id`) or jobs (`selector`), its state (`applying`, `applied`, `interrupted`) and what
    it did to each job, by job id (`next_cursor` pages `jobs`)."""

    change_id: str
    at: datetime
    actor: str
    job_id: str | None = None
    selector: str | None = None
    body: JsonObject
    state: str
    matched: int
    jobs: list[BulkJob] = Field(default_factory=list)
    next_cursor: str | None = None


class StreamEvent(_Model):
    """One Server-Sent Event of `GET /v1/stream`: its id (pass it back as `after` to resume),
    kind (`decision`, `change`, `status` or, on the stream of every job, `rollout`) and data (a
    history item or an audit event, with `job_id`; a rollout's new state)."""

    id: int
    event: str
    data: JsonObject


TokenRole = Literal["admin", "operator", "viewer", "creator"]


class Token(_Model):
    """An API token as `GET /v1/tokens` lists it (never its secret)."""

    name: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreated(Token):
    """A token just created, with its secret (`token`), shown this once."""

    token: str


class JobToken(_Model):
    """A job's new token after a rotation, shown this once; the previous one no longer works."""

    job_id: str
    token: str


WebhookEvent = Literal[
    "job.completed",
    "job.failed",
    "job.stopped",
    "job.stale",
    "decision.stop",
    "plateau.reduced",
    "change",
    "rollout.passed",
    "rollout.failed",
    "rollout.promoted",
    "rollout.reverted",
    "drift",
]


class Webhook(_Model):
    """A webhook as `GET /v1/webhooks` lists it (never its secret)."""

    webhook_id: str
    url: str
    events: list[str]
    selector: str | None = None
    created_by: str
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


class WebhookCreated(Webhook):
    """A webhook just created, with its signing secret (`whsec_...`), shown this once."""

    secret: str


class DeliveryAttempt(_Model):
    """One attempt to deliver a message: the receiver's status code, or what went wrong."""

    attempt: int
    started_at: datetime
    finished_at: datetime | None = None
    status_code: int | None = None
    error: str | None = None


class Delivery(_Model):
    """One event for one webhook: its `webhook-id` (the same on every attempt), its state
    (`pending`, `delivered`, `failed`) and attempts."""

    message_id: str
    event_type: str
    created_at: datetime
    state: str
    next_attempt_at: datetime | None = None
    attempts: list[DeliveryAttempt]


class Health(_Model):
    """`GET /healthz`."""

    status: str


class Readiness(_Model):
    """`GET /readyz` when ready."""

    status: str
    database: str | None = None
