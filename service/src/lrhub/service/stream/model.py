"""The event stream's records: one numbered decision or audit event, and its kind."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lrhub.service.decisions.model import StoredDecision
from lrhub.service.jobs.model import StoredEvent
from lrhub.service.rollouts.model import StoredRolloutEvent


class StreamKind(StrEnum):
    """The SSE `event:` of a stream item."""

    DECISION = "decision"
    CHANGE = "change"
    STATUS = "status"
    ROLLOUT = "rollout"
    DRIFT = "drift"
    """A decision sent again once its job reported an applied rate that drifted from it."""


@dataclass(frozen=True)
class StreamItem:
    """One numbered decision, audit event or rollout event: its stream position, kind and row
    (a rollout event's `job_id` is empty: it is about a fleet)."""

    seq: int
    kind: StreamKind
    job_id: str
    decision: StoredDecision | None = None
    event: StoredEvent | None = None
    rollout: StoredRolloutEvent | None = None


def event_kind(event: StoredEvent) -> StreamKind:
    """`status` for an audit event that moved the job's status, else `change`."""
    if event.before is not None and event.before.get("status") != event.after.get("status"):
        return StreamKind.STATUS
    return StreamKind.CHANGE
