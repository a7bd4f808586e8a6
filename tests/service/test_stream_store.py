"""The stream's positions on both databases: commit order, resumption, and (PostgreSQL) a row
whose transaction commits after a later one's is still delivered, once."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from lrhub.service.auth.principal import Principal
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import AuditAction
from lrhub.service.jobs.selectors import Selector, parse_selector
from lrhub.service.jobs.store import selector_condition
from lrhub.service.storage.database import make_engine, read_transaction, write_transaction
from lrhub.service.storage.tables import decisions, events
from lrhub.service.stream import service as stream_service
from lrhub.service.stream import store as stream_store
from lrhub.service.stream.model import StreamKind
from tests.service.conftest import app_client, migrated
from tests.service.helpers import DROP, create_job, decide
from tests.support.postgres import scratch_database

ADMIN = Principal(actor="test")
EVERY_JOB = Selector()
EVERY_JOB_CONDITION = selector_condition(EVERY_JOB)
# A decision's attempts when SQLite times its write out (503), as the client retries it.
DECISION_ATTEMPTS = 10


def _all_after(
    engine: Engine, after: int, selector: Selector = EVERY_JOB
) -> list[tuple[int, StreamKind, str]]:
    items = stream_service.next_events(engine, after, selector, None, limit=10_000)
    return [(item.seq, item.kind, item.job_id) for item in items]


def _bump_scale(engine: Engine, job_id: str, scale: float) -> None:
    with write_transaction(engine) as connection:
        job = job_store.get_job(connection, job_id, lock=True)
        assert job is not None
        changed = replace(job, scale=scale, revision=job.revision + 1)
        job_store.update_job(connection, changed)
        job_store.record_event(connection, "test", AuditAction.UPDATE, job, changed)


def test_positions_follow_commit_order_and_resume_without_loss_or_repeats(db_url: str) -> None:
    with app_client(db_url) as client:
        create_job(client, "a", spec=DROP, labels={"team": "vision"})
        create_job(client, "b", spec=DROP, labels={"team": "nlp"})
        decide(client, "a", 0, {})
        assert client.patch("/v1/jobs/b", json={"scale": 0.5}).status_code == 200
        assert client.patch("/v1/jobs/a", json={"status": "stopped"}).status_code == 200
    engine = make_engine(db_url)
    try:
        everything = _all_after(engine, 0)
        assert [(kind, job) for _, kind, job in everything] == [
            (StreamKind.CHANGE, "a"),
            (StreamKind.CHANGE, "b"),
            (StreamKind.DECISION, "a"),
            (StreamKind.CHANGE, "b"),
            (StreamKind.STATUS, "a"),
        ]
        positions = [seq for seq, _, _ in everything]
        assert positions == list(range(1, 6))
        assert _all_after(engine, positions[2]) == everything[3:]
        assert _all_after(engine, positions[-1]) == []
        vision = _all_after(engine, 0, parse_selector("team=vision"))
        assert [item[2] for item in vision] == ["a", "a", "a"]
        with read_transaction(engine) as connection:
            assert stream_store.head(connection) == 5
        assert stream_service.open_stream(engine, ADMIN, None, None) == 5
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_transaction_committing_late_is_streamed_after_the_ones_before_it(
    postgres_url: str,
) -> None:
    # PostgreSQL only: SQLite has one writer at a time, so its transactions commit in order.
    with scratch_database(postgres_url, prefix="lrhub_stream") as url:
        _late_commit_is_delivered(migrated(url))


def _late_commit_is_delivered(db_url: str) -> None:
    with app_client(db_url) as client:
        create_job(client, "slow", spec=DROP)
        create_job(client, "fast", spec=DROP)
    engine = make_engine(db_url)
    try:
        start = stream_service.open_stream(engine, ADMIN, None, None)
        with engine.connect() as slow:
            transaction = slow.begin()
            job = job_store.get_job(slow, "slow", lock=True)
            assert job is not None
            # Its audit event's id is drawn now, before the other transaction's ...
            job_store.record_event(slow, "test", AuditAction.UPDATE, job, replace(job, scale=2.0))
            _bump_scale(engine, "fast", 3.0)  # ... which commits first, with a larger id.
            seen = _all_after(engine, start)
            assert [job_id for _, _, job_id in seen] == ["fast"]
            transaction.commit()
        later = _all_after(engine, seen[-1][0])
        assert [job_id for _, _, job_id in later] == ["slow"]
        assert later[0][0] > seen[-1][0]
        assert _all_after(engine, later[0][0]) == []
        ids = [seq for seq, _, _ in _all_after(engine, start)]
        assert ids == sorted(set(ids)) and len(ids) == 2
    finally:
        engine.dispose()


def _insert_events(engine: Engine, job_id: str, notes: list[str]) -> None:
    """Audit events of `job_id`, one per note, in one transaction."""
    with write_transaction(engine) as connection:
        rows = [
            {"job_id": job_id, "at": datetime.now(UTC), "actor": "writer", "action": "update",
             "before": None, "after": {"labels": {"note": note}}}
            for note in notes
        ]  # fmt: skip
        connection.execute(insert(events), rows)


def _number_all(engine: Engine, batch: int) -> None:
    """Run the sequencer with `batch` until nothing is left to number."""
    while True:
        with write_transaction(engine) as connection:
            if not stream_store.number_rows(connection, batch=batch):
                return


def _positions(engine: Engine) -> tuple[dict[str, int], dict[int, int]]:
    """Each writer event's position by its note, each decision's by its epoch."""
    with read_transaction(engine) as connection:
        noted = connection.execute(select(events.c.after, events.c.seq)).all()
        decided = connection.execute(select(decisions.c.epoch, decisions.c.seq)).all()
    labels = [((after or {}).get("labels") or {}, seq) for after, seq in noted]
    by_note = {label["note"]: seq for label, seq in labels if "note" in label}
    return by_note, {epoch: seq for epoch, seq in decided}


def test_a_backlog_is_numbered_in_commit_order_across_decisions_and_events(db_url: str) -> None:
    """A backlog larger than one batch of audit events, then decisions committed after it: every
    event comes before every decision, although the first run could fit the decisions."""
    with app_client(db_url) as client:
        create_job(client, "busy", spec=DROP)
        create_job(client, "other", spec=DROP)
        engine = make_engine(db_url)
        try:
            _number_all(engine, batch=1000)  # the jobs' own creation events
            _insert_events(engine, "busy", [f"e{i}" for i in range(25)])
            for epoch in range(3):
                decide(client, "other", epoch, {})
            _number_all(engine, batch=10)
            by_note, by_epoch = _positions(engine)
        finally:
            engine.dispose()
    assert max(by_note.values()) < min(by_epoch.values()), (by_note, by_epoch)
    assert sorted(by_note.values()) == [by_note[f"e{i}"] for i in range(25)]
    assert sorted(by_epoch.values()) == [by_epoch[epoch] for epoch in range(3)]


def test_a_read_is_cut_by_the_size_of_its_events_before_they_are_loaded(db_url: str) -> None:
    with app_client(db_url) as client:
        create_job(client, "wide", spec=DROP)
    engine = make_engine(db_url)
    try:
        _number_all(engine, batch=1000)
        with read_transaction(engine) as connection:
            start = stream_store.head(connection)
        _insert_events(engine, "wide", [f"{i}" * 1000 for i in range(5)])
        _number_all(engine, batch=1000)

        def notes(max_bytes: int | None) -> list[str]:
            with read_transaction(engine) as connection:
                items = stream_store.read_after(
                    connection, start, where=EVERY_JOB_CONDITION, job_id=None, limit=4,
                    max_bytes=max_bytes,
                )  # fmt: skip
            return [item.event.after["labels"]["note"][0] for item in items if item.event]

        assert notes(None) == ["0", "1", "2", "3"]  # the count's bound alone
        assert notes(2500) == ["0", "1"]
        assert notes(10) == ["0"]  # at least one, however large
    finally:
        engine.dispose()


@dataclass
class _Commits:
    """What each writer transaction wrote, and when it began and had committed."""

    spans: list[tuple[float, float, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, began: float, keys: list[str]) -> None:
        with self.lock:
            self.spans.append((began, time.monotonic(), keys))


def decide_retrying(client: TestClient, job_id: str, epoch: int) -> None:
    """Decide `epoch`, again after a 503 as the client does (decisions are idempotent): on
    SQLite, beside a sequencer that never rests, a busy CI machine can time a write's lock out."""
    for _ in range(DECISION_ATTEMPTS):
        response = client.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json={"metrics": {}})
        if response.status_code != 503:
            break
    assert response.status_code == 200, response.text


def test_concurrent_writers_are_numbered_in_commit_order(db_url: str) -> None:
    """Two writers (audit events in transactions of 7, decisions over HTTP) and a sequencer
    with a small batch run at once, so backlogs build and are cut: a transaction that had
    committed before another began always holds the smaller positions."""
    commits = _Commits()
    writing = threading.Event()
    writing.set()
    with app_client(db_url) as client:
        create_job(client, "busy", spec=DROP)
        create_job(client, "other", spec=DROP)
        engine = make_engine(db_url)
        try:
            _number_all(engine, batch=1000)

            def write_events() -> None:
                for round_ in range(30):
                    notes = [f"e{round_}.{i}" for i in range(7)]
                    began = time.monotonic()
                    _insert_events(engine, "busy", notes)
                    commits.add(began, notes)

            def write_decisions() -> None:
                with app_client(db_url) as own:
                    for epoch in range(30):
                        began = time.monotonic()
                        decide_retrying(own, "other", epoch)
                        commits.add(began, [f"d{epoch}"])

            def sequence() -> None:
                while writing.is_set():
                    with write_transaction(engine) as connection:
                        stream_store.number_rows(connection, batch=5)

            writers = [
                threading.Thread(target=write_events),
                threading.Thread(target=write_decisions),
            ]
            sequencer = threading.Thread(target=sequence)
            for thread in [*writers, sequencer]:
                thread.start()
            for thread in writers:
                thread.join()
            writing.clear()
            sequencer.join()
            _number_all(engine, batch=5)
            by_note, by_epoch = _positions(engine)
        finally:
            engine.dispose()
    position = {**by_note, **{f"d{epoch}": seq for epoch, seq in by_epoch.items()}}
    assert all(seq is not None for seq in position.values())
    assert len(set(position.values())) == len(position) == 30 * 7 + 30
    for began, _, keys in commits.spans:
        earlier = [k for _, committed, ks in commits.spans if committed < began for k in ks]
        if earlier:
            assert max(position[k] for k in earlier) < min(position[k] for k in keys), keys


def test_a_stream_of_an_unknown_job_is_not_found(api: TestClient) -> None:
    response = api.get("/v1/stream", params={"job": "nope"})
    assert response.status_code == 404, response.text
