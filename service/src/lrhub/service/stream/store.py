"""The event stream's positions: a sequencer that numbers decisions and audit events in commit
order, and reads of the numbered rows after a position.

Why not stream by the rows' own ids: on PostgreSQL an id is drawn when a row is inserted, not
when its transaction commits, so a reader that has seen id 12 may later see id 11 commit, and a
reader positioned after 12 would skip it. Here writers insert rows with `seq` NULL (the
decision path pays nothing); the sequencer then numbers the rows it can see, which are committed,
while holding the row lock of `stream_sequence` until it commits. Sequencer runs are therefore
serialized and each one numbers above every earlier one, so the positions become visible in
increasing order: a reader positioned at p that has seen everything up to p never misses a row
numbered later. Readers bound each read by the committed counter, so what they read is complete
up to that bound even when each statement sees a fresh snapshot.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Table, bindparam, exists, select, update

from lrhub.service.clock import as_utc
from lrhub.service.decisions.model import StoredDecision
from lrhub.service.jobs.store import event_of
from lrhub.service.storage.tables import decisions, events, jobs, stream_sequence
from lrhub.service.stream.model import StreamItem, StreamKind, event_kind

SEQUENCE_BATCH = 1000
_COUNTER_ID = 1


def head(connection: Connection) -> int:
    """The highest position handed out (and committed)."""
    query = select(stream_sequence.c.value).where(stream_sequence.c.id == _COUNTER_ID)
    return int(connection.execute(query).scalar_one())


def has_unnumbered(connection: Connection) -> bool:
    """Whether any decision or audit event waits for a position."""
    query = select(
        exists().where(decisions.c.seq.is_(None)) | exists().where(events.c.seq.is_(None))
    )
    return bool(connection.execute(query).scalar_one())


def number_rows(connection: Connection, batch: int = SEQUENCE_BATCH) -> int:
    """Give the next positions to up to `batch` unnumbered decisions and `batch` audit events,
    in time order; how many it numbered. Run in a write transaction: it holds the counter's row
    lock until commit. Another process holding it already makes this a no-op (it numbers them).
    """
    counter = connection.execute(
        select(stream_sequence.c.value)
        .where(stream_sequence.c.id == _COUNTER_ID)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if counter is None:
        return 0
    pending_decisions = connection.execute(
        select(decisions.c.id, decisions.c.decided_at)
        .where(decisions.c.seq.is_(None))
        .order_by(decisions.c.id)
        .limit(batch)
    ).all()
    pending_events = connection.execute(
        select(events.c.id, events.c.at)
        .where(events.c.seq.is_(None))
        .order_by(events.c.id)
        .limit(batch)
    ).all()
    # Time order interleaves the two tables as they happened; a decision and the follow-latest
    # event of its own transaction keep that event first (it is older).
    pending = sorted(
        [(as_utc(at), 1, row_id, decisions) for row_id, at in pending_decisions]
        + [(as_utc(at), 0, row_id, events) for row_id, at in pending_events],
        key=lambda item: item[:3],
    )
    if not pending:
        return 0
    numbered: dict[Table, list[dict[str, int]]] = {decisions: [], events: []}
    for offset, (_, _, row_id, table) in enumerate(pending, start=1):
        numbered[table].append({"row_id": row_id, "new_seq": int(counter) + offset})
    for table, rows in numbered.items():
        if rows:
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(seq=bindparam("new_seq")),
                rows,
            )
    connection.execute(
        update(stream_sequence)
        .where(stream_sequence.c.id == _COUNTER_ID)
        .values(value=int(counter) + len(pending))
    )
    return len(pending)


def read_after(
    connection: Connection,
    after: int,
    *,
    where: ColumnElement[bool],
    job_id: str | None,
    limit: int,
) -> list[StreamItem]:
    """Up to `limit` numbered rows after position `after`, in position order, of the jobs that
    meet `where` (and are `job_id`, when given)."""
    upper = head(connection)
    if upper <= after:
        return []
    items: list[StreamItem] = []
    for table in (decisions, events):
        condition = table.c.seq > after, table.c.seq <= upper, where
        query = select(table).join(jobs, jobs.c.job_id == table.c.job_id).where(*condition)
        if job_id is not None:
            query = query.where(table.c.job_id == job_id)
        rows = connection.execute(query.order_by(table.c.seq).limit(limit)).mappings()
        for row in rows:
            if table is decisions:
                decision = StoredDecision(**row)
                kind = StreamKind.DRIFT if decision.drift else StreamKind.DECISION
                item = StreamItem(decision.seq or 0, kind, decision.job_id, decision=decision)
            else:
                event = event_of(row)
                item = StreamItem(event.seq or 0, event_kind(event), event.job_id, event=event)
            items.append(item)
    items.sort(key=lambda item: item.seq)
    return items[:limit]
