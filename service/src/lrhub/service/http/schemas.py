"""Request and response bodies of the HTTP API (docs/http-api.md), as pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from lrhub.schedules import Spec

SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SCHEDULE_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(@[1-9][0-9]{0,8})?$"
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$"
LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$"
METRIC_NAME_PATTERN = r"^[A-Za-z0-9_.:/-]{1,128}$"
MAX_EPOCH = 10_000_000
MAX_STEPS_PER_EPOCH = 100_000
MAX_PREVIEW_EPOCHS = 10_000
MAX_PREVIEW_STEPS = 1_000_000
MAX_METRICS = 256
MAX_LABELS = 32

ScheduleRef = Annotated[str, StringConstraints(pattern=SCHEDULE_REF_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, StringConstraints(max_length=256)]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=MAX_LABELS)]
MetricName = Annotated[str, StringConstraints(pattern=METRIC_NAME_PATTERN)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
Metrics = Annotated[dict[MetricName, FiniteNumber], Field(max_length=MAX_METRICS)]
StepsPerEpoch = Annotated[int, Field(ge=1, le=MAX_STEPS_PER_EPOCH)]
Rate = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
Scale = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
Follow = Literal["latest", "pinned"]


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so typos are reported rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class SchedulePut(RequestBody):
    """`PUT /v1/schedules/{name}`."""

    spec: Spec
    description: str = Field(default="", max_length=4096)


class PreviewRequest(RequestBody):
    """`POST /v1/preview`: exactly one of `spec` and `schedule`."""

    spec: Spec | None = None
    schedule: ScheduleRef | None = None
    epochs: int = Field(ge=1, le=MAX_PREVIEW_EPOCHS)
    steps_per_epoch: StepsPerEpoch | None = None
    metrics: list[Metrics] | None = Field(default=None, max_length=MAX_PREVIEW_EPOCHS)


class JobCreate(RequestBody):
    """`PUT /v1/jobs/{job_id}`: exactly one of `schedule` and `spec`."""

    schedule: ScheduleRef | None = None
    spec: Spec | None = None
    follow: Follow | None = None
    scale: Scale = 1.0
    labels: Labels = Field(default_factory=dict)


class JobPatch(RequestBody):
    """`PATCH /v1/jobs/{job_id}`: every field optional; absent fields stay as they are."""

    schedule: ScheduleRef | None = None
    spec: Spec | None = None
    follow: Follow | None = None
    clock: Literal["continue", "restart"] | None = None
    scale: Scale | None = None
    override: Rate | None = None
    paused: bool | None = None
    status: Literal["stopped"] | None = None
    labels: Labels | None = None


class DecisionRequest(RequestBody):
    """`POST /v1/jobs/{job_id}/epochs/{epoch}`: metrics observed at the end of epoch-1."""

    metrics: Metrics | None = None
    steps_per_epoch: StepsPerEpoch | None = None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None


class ScheduleOut(BaseModel):
    """A version of a named schedule."""

    name: str
    version: int
    spec: dict[str, Any]
    description: str
    created_at: datetime
    versions: int


class PreviewOut(BaseModel):
    """The rates a spec would give, without storing anything."""

    learning_rates: list[float]
    step_learning_rates: list[list[float]] | None
    reasons: list[str]
    stop_epoch: int | None


class JobSchedule(BaseModel):
    """Which named schedule a job uses (both null for an inline spec) and how it follows it."""

    name: str | None
    version: int | None
    follow: Follow


class JobOut(BaseModel):
    """A job's configuration and state."""

    job_id: str
    status: Literal["running", "stopped"]
    schedule: JobSchedule
    spec: dict[str, Any]
    scale: float
    override: float | None
    paused: bool
    labels: dict[str, str]
    clock_origin: int
    last_epoch: int | None
    learning_rate: float | None
    state: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class JobCreated(JobOut):
    """The 201 answer that created a job: its token, shown this once."""

    token: str


class ScheduleUsed(BaseModel):
    """The named schedule version a decision used (nulls for an inline spec)."""

    name: str | None
    version: int | None


class DecisionOut(BaseModel):
    """The rate for one epoch of a job."""

    job_id: str
    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None
    reason: str
    stop: bool
    schedule: ScheduleUsed
    replayed: bool
    rewound: bool
    gap: int
    state: dict[str, Any]
    decided_at: datetime


class HistoryItem(BaseModel):
    """One stored decision of a job."""

    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None
    reason: str
    stop: bool
    metrics: dict[str, float] | None
    schedule: ScheduleUsed
    superseded: bool
    decided_at: datetime


class EventOut(BaseModel):
    """One audit event: who changed what on a job, and when."""

    id: int
    at: datetime
    actor: str
    action: Literal["create", "update", "stop"]
    before: dict[str, Any] | None
    after: dict[str, Any]
