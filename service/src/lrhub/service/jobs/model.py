"""Jobs' records and enums: what the jobs store reads and writes, and every layer passes around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from lrhub.service.fields import JobStatus


class Follow(StrEnum):
    """How a job on a named schedule takes new versions: at its next epoch, or never."""

    LATEST = "latest"
    PINNED = "pinned"


class AuditAction(StrEnum):
    """What an audit event records."""

    CREATE = "create"
    UPDATE = "update"
    STOP = "stop"
    ROTATE_TOKEN = "rotate_token"
    STATUS = "status"


@dataclass(frozen=True)
class StoredJob:
    """One row of `jobs`: a job's configuration, operator settings and engine state."""

    job_id: str
    token_hash: str
    status: JobStatus
    schedule_name: str | None
    schedule_version: int | None
    follow: Follow
    spec: str
    scale: float
    override: float | None
    paused: bool
    held_rate: float | None
    labels: dict[str, str]
    clock_origin: int
    last_epoch: int | None
    learning_rate: float | None
    state: dict[str, Any] | None
    revision: int
    created_at: datetime
    updated_at: datetime
    row_version: int
    """Counts every write of the row; a decision lands only on the version it was computed from."""
    created_by: str | None
    """The actor that created the job (None for jobs created before lrhub recorded it)."""
    last_seen_at: datetime | None
    """When the job last reported (a decision, an epoch's end, its status); None before that."""
    epoch_intervals: list[float] | None
    creator_token: str | None = None
    """The id of the API token that created the job (see `Principal.token_id`)."""
    cooldown: dict[str, Any] | None = None
    """The decay an operator started (`Cooldown.as_document`), None for none."""
    pending_epoch: int | None = None
    """The epoch a change to the rate made since the job's last decision takes effect at (its
    next epoch); None when none is pending (`lrhub.service.jobs.pending`)."""


@dataclass(frozen=True)
class StoredEvent:
    """One row of `events`: who changed a job, when, its configuration before and after."""

    id: int
    job_id: str
    at: datetime
    actor: str
    action: AuditAction
    before: dict[str, Any] | None
    after: dict[str, Any]
    seq: int | None
    """Stream position (None until the stream's sequencer numbers the event)."""
    change_id: str | None
    """The change (`changes`) this event belongs to; None for creations and token rotations."""
