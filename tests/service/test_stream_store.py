"""The stream's positions on both databases: commit order, resumption, and (PostgreSQL) a row
whose transaction commits after a later one's is still delivered, once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from lrhub.service.auth.principal import Principal
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import AuditAction
from lrhub.service.jobs.selectors import Selector, parse_selector
from lrhub.service.storage.database import make_engine, read_transaction, write_transaction
from lrhub.service.stream import service as stream_service
from lrhub.service.stream import store as stream_store
from lrhub.service.stream.model import StreamKind
from tests.service.conftest import app_client, migrated
from tests.service.helpers import DROP, create_job, decide
from tests.support.postgres import scratch_database

ADMIN = Principal(actor="test")
EVERY_JOB = Selector()


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


def test_a_stream_of_an_unknown_job_is_not_found(api: TestClient) -> None:
    response = api.get("/v1/stream", params={"job": "nope"})
    assert response.status_code == 404, response.text
