"""The `data:` of stream events: a history item or an audit event, with its job id."""

from __future__ import annotations

from lrhub.service.decisions.schemas import HistoryEntry
from lrhub.service.jobs.schemas import AuditEvent
from lrhub.service.stream.model import StreamItem


class StreamDecision(HistoryEntry):
    """A decision as the job's history shows it, with the job's id."""

    job_id: str


class StreamAuditEvent(AuditEvent):
    """An audit event as the job's audit log shows it, with the job's id."""

    job_id: str


def stream_data(item: StreamItem) -> StreamDecision | StreamAuditEvent:
    """The `data:` of one stream item."""
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
