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

import functools
import operator

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    Text,
    bindparam,
    cast,
    exists,
    func,
    select,
    update,
)

from lrhub.service.clock import as_utc
from lrhub.service.decisions.model import StoredDecision
from lrhub.service.jobs.store import event_of
from lrhub.service.rollouts.model import RolloutState, StoredRolloutEvent
from lrhub.service.storage.tables import decisions, events, jobs, rollout_events, stream_sequence
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
        exists().where(decisions.c.seq.is_(None))
        | exists().where(events.c.seq.is_(None))
        | exists().where(rollout_events.c.seq.is_(None))
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
    pending_rollouts = connection.execute(
        select(rollout_events.c.id, rollout_events.c.at)
        .where(rollout_events.c.seq.is_(None))
        .order_by(rollout_events.c.id)
        .limit(batch)
    ).all()
    # Time order interleaves the tables as they happened; a decision and the follow-latest
    # event of its own transaction keep that event first (it is older).
    decision_keys = [(as_utc(at), 1, row_id) for row_id, at in pending_decisions]
    event_keys = [(as_utc(at), 0, row_id) for row_id, at in pending_events]
    rollout_keys = [(as_utc(at), 2, row_id) for row_id, at in pending_rollouts]
    # A backlog fills a batch: the rows after its cut wait for the next run, so this run must
    # number nothing later than the cut, or a row committed after the cut would take a position
    # before ones committed earlier that the cut left out (the other table's rows run on).
    cuts = [keys[-1] for keys in (decision_keys, event_keys, rollout_keys) if len(keys) >= batch]
    cut = min(cuts, default=None)
    pending = sorted(
        [(*key, decisions) for key in decision_keys if cut is None or key <= cut]
        + [(*key, events) for key in event_keys if cut is None or key <= cut]
        + [(*key, rollout_events) for key in rollout_keys if cut is None or key <= cut],
        key=lambda item: item[:3],
    )
    if not pending:
        return 0
    numbered: dict[Table, list[dict[str, int]]] = {decisions: [], events: [], rollout_events: []}
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


# The JSON columns that make a streamed row large, by table.
_WIDE_COLUMNS = {
    decisions: ("metrics", "end_metrics", "state_before", "state_after", "step_learning_rates"),
    events: ("before", "after"),
}


def _bytes_bound(
    connection: Connection,
    upper: int,
    conditions: dict[Table, list[ColumnElement[bool]]],
    limit: int,
    max_bytes: int,
) -> int:
    """The last position of the longest run of rows meeting `conditions` (at most `limit`)
    whose JSON takes at most `max_bytes` as text, and at least one row: sizes are read before
    the rows, so a batch of large rows is cut before it is loaded."""
    sized: list[tuple[int, int]] = []
    for table, condition in conditions.items():
        json_size = functools.reduce(
            operator.add,
            [
                func.coalesce(func.length(cast(table.c[name], Text)), 0)
                for name in _WIDE_COLUMNS[table]
            ],
        )
        query = select(table.c.seq, json_size).join(jobs, jobs.c.job_id == table.c.job_id)
        sized += connection.execute(
            query.where(*condition).order_by(table.c.seq).limit(limit)
        ).all()
    sized.sort()
    total = 0
    for taken, (_, row_size) in enumerate(sized[:limit]):
        total += int(row_size)
        if total > max_bytes and taken:
            return int(sized[taken - 1][0])
    return upper


def read_after(
    connection: Connection,
    after: int,
    *,
    where: ColumnElement[bool],
    job_id: str | None,
    limit: int,
    max_bytes: int | None = None,
    fleet: bool = False,
) -> list[StreamItem]:
    """Up to `limit` numbered rows after position `after`, in position order, of the jobs that
    meet `where` (and are `job_id`, when given), and rollout events when `fleet`; with
    `max_bytes`, only as many as take at most that much JSON (at least one)."""
    upper = head(connection)
    if upper <= after:
        return []
    conditions: dict[Table, list[ColumnElement[bool]]] = {}
    for table in (decisions, events):
        conditions[table] = [table.c.seq > after, table.c.seq <= upper, where]
        if job_id is not None:
            conditions[table].append(table.c.job_id == job_id)
    if max_bytes is not None:
        upper = _bytes_bound(connection, upper, conditions, limit, max_bytes)
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
    if fleet:
        rows = connection.execute(
            select(rollout_events)
            .where(rollout_events.c.seq > after, rollout_events.c.seq <= upper)
            .order_by(rollout_events.c.seq)
            .limit(limit)
        ).mappings()
        for row in rows:
            entered = StoredRolloutEvent(**{**row, "state": RolloutState(row["state"])})
            items.append(StreamItem(entered.seq or 0, StreamKind.ROLLOUT, "", rollout=entered))
    items.sort(key=lambda item: item.seq)
    return items[:limit]
