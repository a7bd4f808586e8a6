"""Webhooks' records: subscriptions, the outbox of messages, each delivery attempt, and the
event types a subscription may ask for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class WebhookEvent(StrEnum):
    """The event types a webhook can subscribe to (the body's `type`). Adding one is a member
    here and one call of `webhooks.service.record_event` where it happens."""

    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_STOPPED = "job.stopped"
    JOB_STALE = "job.stale"
    DECISION_STOP = "decision.stop"
    PLATEAU_REDUCED = "plateau.reduced"
    CHANGE = "change"
    ROLLOUT_PASSED = "rollout.passed"
    ROLLOUT_FAILED = "rollout.failed"
    ROLLOUT_PROMOTED = "rollout.promoted"
    ROLLOUT_REVERTED = "rollout.reverted"
    DRIFT = "drift"


class MessageState(StrEnum):
    """Where a message of the outbox is: still to be delivered, delivered, or given up (every
    attempt of the schedule failed, or its webhook answered 410 and was disabled)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class StoredWebhook:
    """One row of `webhooks`: a subscription, its target and encrypted signing secret."""

    webhook_id: str
    url: str
    events: list[str]
    selector: str | None
    secret: str
    """The signing secret encrypted with the server's webhook key (never in clear)."""
    created_by: str
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


@dataclass(frozen=True)
class NewMessage:
    """An event for one webhook, written to the outbox with the event."""

    message_id: str
    """The `webhook-id` of every attempt to deliver it."""
    webhook_id: str
    event_type: str
    payload: str
    """The exact body every attempt sends (and signs)."""
    created_at: datetime


@dataclass(frozen=True)
class StoredAttempt:
    """One attempt to deliver a message: its answer's status, or what went wrong."""

    message_id: str
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    """None: the process delivering it stopped before it knew the outcome."""
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class StoredMessage(NewMessage):
    """A row of the outbox, with where its delivery is and its attempts so far."""

    id: int
    state: MessageState
    attempts: int
    next_attempt_at: datetime
    attempt_log: tuple[StoredAttempt, ...] = ()


@dataclass(frozen=True)
class Claim:
    """A message one process may deliver now: attempt number `attempt`, until `lease_until`."""

    message: StoredMessage
    attempt: int
    claimed_by: str
    url: str
    secret: str
    """Encrypted, as stored."""


@dataclass(frozen=True)
class Outcome:
    """How one claimed attempt went: the receiver's status code, or None and what went wrong."""

    claim: Claim
    status_code: int | None
    error: str | None
