"""The `data:` of stream events: a history item or an audit event, with its job id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from lrhub.service.clock import as_utc
from lrhub.service.decisions.schemas import HistoryEntry
from lrhub.service.jobs.schemas import AuditEvent
from lrhub.service.stream.model import StreamItem


class StreamDecision(HistoryEntry):
    """A decision as the job's history shows it, with the job's id."""

    job_id: str


class StreamAuditEvent(AuditEvent):
    """An audit event as the job's audit log shows it, with the job's id."""

    job_id: str


class StreamRolloutEvent(BaseModel):
    """A state a rollout entered: when, who moved it (an operator, or a replica's judge), and
    its cohorts and verdict figures (`GET /v1/rollouts/{rollout_id}` has the rest)."""

    rollout_id: str
    state: str
    at: datetime
    actor: str
    data: dict[str, Any]


def stream_data(item: StreamItem) -> StreamDecision | StreamAuditEvent | StreamRolloutEvent:
    """The `data:` of one stream item."""
    if item.rollout is not None:
        event = item.rollout
        return StreamRolloutEvent(
            rollout_id=event.rollout_id,
            state=event.state.value,
            at=as_utc(event.at),
            actor=event.actor,
            data=event.data,
        )
    if item.decision is not None:
        entry = HistoryEntry.of(item.decision)
        return StreamDecision(**entry.model_dump(), job_id=item.job_id)
    assert item.event is not None
    return StreamAuditEvent(**AuditEvent.of(item.event).model_dump(), job_id=item.job_id)


def server_sent_event(item: StreamItem) -> str:
    """One item in the `text/event-stream` format: id, event and one line of JSON data."""
    return (
        f"id: {item.seq}\nevent: {item.kind.value}\ndata: {stream_data(item).model_dump_json()}\n\n"
    )
