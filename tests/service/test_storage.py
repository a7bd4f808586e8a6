"""Storage: migrations, SQLite settings, and the decision transaction under concurrency.

Runs against SQLite and PostgreSQL; the PostgreSQL half needs LRHUB_TEST_DATABASE_URL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, select, text

import lrhub.service.storage
from lrhub.schedules import parse_spec
from lrhub.schedules import preview as preview_schedule
from lrhub.service.auth.principal import Principal
from lrhub.service.catalog import service as catalog_service
from lrhub.service.decisions import service as decision_service
from lrhub.service.decisions.cache import JobRowCache
from lrhub.service.decisions.model import DecisionKind
from lrhub.service.evaluation import IN_PROCESS
from lrhub.service.jobs import service as job_service
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.schemas import JobCreate
from lrhub.service.jobs.selectors import Selector
from lrhub.service.jobs.store import selector_condition
from lrhub.service.limits import Limits
from lrhub.service.storage.database import make_engine, numbered_placeholders, write_transaction
from lrhub.service.storage.migrate import alembic_config, upgrade_schema
from lrhub.service.storage.tables import decisions, jobs, metadata
from tests.service.conftest import migrated
from tests.service.helpers import LOSSES, PLATEAU, observed
from tests.support.db_faults import DatabaseFaults
from tests.support.postgres import scratch_database

ADMIN = Principal(actor="test")
LIMITS = Limits()
# The jobs table as revision 0001 made it (no created_by).
JOB_COLUMNS_0001 = ("job_id", "token_hash", "status", "follow", "spec", "scale", "paused",
                    "clock_origin", "revision", "created_at", "updated_at")  # fmt: skip
jobs_0001 = sa.table("jobs", *map(sa.column, JOB_COLUMNS_0001), sa.column("labels", sa.JSON))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated database of each kind."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_concurrent_upgrades_of_an_empty_database_reach_head_once(empty_db_url: str) -> None:
    engines = [make_engine(empty_db_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(upgrade_schema, engines))
        with engines[0].connect() as connection:
            head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
            assert MigrationContext.configure(connection).get_current_revision() == head
        assert set(metadata.tables) <= set(inspect(engines[0]).get_table_names())
    finally:
        for each in engines:
            each.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        pragmas = {
            name: connection.execute(text(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    engine.dispose()
    expected = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1, "busy_timeout": 5000}
    assert pragmas == expected


def test_turning_on_wal_waits_for_a_connection_writing_to_a_new_sqlite_file(
    tmp_path: Path,
) -> None:
    """While another connection holds the write lock of a file still in rollback-journal mode (as
    one does while it switches a new file to WAL), `PRAGMA journal_mode=WAL` answers "database
    is locked" at once, busy timeout or not: what made servers opening one new file together
    fail. The holder lets go when the pragma runs a second time, so only a retry connects."""
    path = tmp_path / "lrhub.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    attempts = 0

    def let_go_at_the_second_attempt(statement: str) -> None:
        nonlocal attempts
        if statement == "PRAGMA journal_mode=WAL":
            attempts += 1
            if attempts == 2:
                holder.execute("ROLLBACK")

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        connection.set_trace_callback(let_go_at_the_second_attempt)
        return connection

    engine = make_engine(f"sqlite:///{path}", creator=connect)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()
        holder.close()
    assert attempts == 2


def test_turning_on_wal_gives_up_after_the_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "lrhub.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = make_engine(f"sqlite:///{path}", lock_timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            engine.connect()
        assert time.monotonic() - started >= 0.2
    finally:
        engine.dispose()
        holder.close()


def test_concurrent_retries_of_one_job_decide_each_epoch_once(engine: Engine) -> None:
    job_service.create_job(engine, ADMIN, "contended", JobCreate(spec=parse_spec(PLATEAU)))

    def client_run(_: int) -> list[float]:
        # Every client sends every epoch in order, like duplicated retries from several pods,
        # each through a server process of its own (its own cache of job rows).
        job_rows = JobRowCache()
        return [
            decision_service.decide_epoch(
                engine,
                job_rows,
                LIMITS,
                IN_PROCESS,
                ADMIN,
                "contended",
                epoch,
                observed(epoch),
                None,
            ).record.learning_rate
            for epoch in range(len(LOSSES))
        ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = list(pool.map(client_run, range(6)))

    assert all(run == runs[0] for run in runs)
    query = select(decisions.c.epoch, decisions.c.superseded).where(
        decisions.c.job_id == "contended"
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    assert sorted(epoch for epoch, _ in rows) == list(range(len(LOSSES)))
    assert not any(superseded for _, superseded in rows)


def test_pooled_postgresql_connections_cut_by_the_server_are_replaced_at_checkout(
    postgres_url: str,
) -> None:
    # The engine pings no connection with a round trip: it must notice the cut by itself.
    with scratch_database(postgres_url, prefix="lrhub_cut") as url:
        engine = make_engine(migrated(url))
        faults = DatabaseFaults(url)
        try:
            job_service.create_job(engine, ADMIN, "cut", JobCreate(spec=parse_spec(PLATEAU)))
            with ThreadPoolExecutor(max_workers=3) as pool:  # several idle pooled connections
                list(pool.map(lambda _: job_service.get_job(engine, ADMIN, "cut"), range(9)))
            job_rows = JobRowCache()
            for epoch in range(3):
                assert faults.cut_connections() >= 1
                decided = decision_service.decide_epoch(
                    engine, job_rows, LIMITS, IN_PROCESS, ADMIN, "cut", epoch, observed(epoch), None
                )
                assert decided.kind is DecisionKind.NEW
        finally:
            faults.close()
            engine.dispose()


def test_a_decision_blocked_past_the_lock_timeout_fails_and_leaves_its_connection_clean(
    db_url: str,
) -> None:
    # The decision's write runs on the driver's own cursor: a lock wait must still end as
    # SQLAlchemy's OperationalError (answered 503), and the pooled connection must come back
    # without an open transaction, so the next decision on it is written.
    engine = make_engine(db_url, lock_timeout=0.2)
    holder = make_engine(db_url)
    try:
        job_service.create_job(engine, ADMIN, "held", JobCreate(spec=parse_spec(PLATEAU)))
        job_rows = JobRowCache()

        def decide(epoch: int) -> DecisionKind:
            return decision_service.decide_epoch(
                engine, job_rows, LIMITS, IN_PROCESS, ADMIN, "held", epoch, observed(epoch), None
            ).kind

        assert decide(0) is DecisionKind.NEW
        # SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: the job's row lock.
        with write_transaction(holder) as connection:
            connection.execute(select(jobs).where(jobs.c.job_id == "held").with_for_update())
            with pytest.raises(sa.exc.OperationalError):
                decide(1)
        assert decide(1) is DecisionKind.NEW
        history = decision_service.job_history(
            engine, ADMIN, "held", include_superseded=True, after=None, limit=None
        )
        assert [(d.epoch, d.end_metrics) for d in history] == [(0, observed(1)), (1, None)]
    finally:
        holder.dispose()
        engine.dispose()


def test_deleting_a_job_row_cascades_to_its_history(engine: Engine) -> None:
    job_service.create_job(engine, ADMIN, "gone", JobCreate(spec=parse_spec(PLATEAU)))
    decision_service.decide_epoch(
        engine, JobRowCache(), LIMITS, IN_PROCESS, ADMIN, "gone", 0, {}, None
    )
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM jobs WHERE job_id = 'gone'"))
        left = connection.execute(select(decisions.c.id)).all()
    assert left == []


def test_concurrent_puts_of_a_new_schedule_create_it_once(engine: Engine) -> None:
    spec = parse_spec(PLATEAU)

    def put(_: int) -> bool:
        _schedule, created = catalog_service.put_schedule(engine, ADMIN, "raced", spec, "", None)
        return created

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(put, range(6)))
    assert created.count(True) == 1
    assert catalog_service.get_schedule(engine, "raced", None).versions == 1


def test_the_shipped_alembic_ini_migrates_lrhub_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'by-hand.db'}"
    monkeypatch.setenv("LRHUB_DATABASE_URL", url)
    ini = Path(lrhub.service.storage.__file__).with_name("alembic.ini")
    command.upgrade(Config(str(ini)), "head")
    engine = make_engine(url)
    try:
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_labels_stored_before_0002_with_nul_no_longer_break_label_filters(
    empty_db_url: str,
) -> None:
    """A NUL in a stored label made every PostgreSQL label filter fail; 0002 repairs it."""
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
        now = datetime.now(UTC)
        row = {"token_hash": "0" * 64, "status": "running", "follow": "pinned", "spec": "{}",
               "scale": 1.0, "paused": False, "clock_origin": 0, "revision": 0,
               "created_at": now, "updated_at": now}  # fmt: skip
        with engine.begin() as connection:
            connection.execute(
                insert(jobs_0001),
                [
                    {**row, "job_id": "bad", "labels": {"team": "vi\x00sion"}},
                    {**row, "job_id": "good", "labels": {"team": "vision"}, "token_hash": "1" * 64},
                ],
            )
        upgrade_schema(engine)
        with engine.connect() as connection:
            condition = selector_condition(Selector.of_labels({"team": "vision"}))
            found = job_store.list_jobs(connection, where=condition, after=None, limit=10)
            repaired = job_store.get_job(connection, "bad")
        assert [job.job_id for job in found] == ["good"]
        assert repaired is not None and repaired.labels == {"team": "vi\ufffdsion"}
        assert repaired.created_by is None
    finally:
        engine.dispose()


def test_decisions_stored_before_0007_count_the_reductions_their_reasons_name(
    empty_db_url: str,
) -> None:
    """0007 counts a stored decision's reductions from the engine's own note: the reasons here
    are the engine's, and so is the count they are checked against (a plateau that reduces,
    then stays at min_lr, where it still says it did not improve but cannot reduce)."""
    spec = {**PLATEAU, "min_lr": 0.05}
    losses = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    reported = [{"val_loss": loss} for loss in losses]
    preview = preview_schedule(parse_spec(spec), len(losses), metrics=reported)
    assert 0 < sum(preview.reductions) < sum("did not improve" in r for r in preview.reasons)
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0006")
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(insert(jobs).values(
                job_id="old", token_hash="0" * 64, status="running", follow="pinned", spec="{}",
                scale=1.0, paused=False, labels={}, clock_origin=0, revision=0, created_at=now,
                updated_at=now, row_version=0,
            ))  # fmt: skip
            # Only the columns revision 0006 has: an INSERT names the keys it is given.
            rows = zip(preview.learning_rates, preview.reasons, strict=True)
            connection.execute(insert(decisions), [
                {"job_id": "old", "epoch": epoch, "learning_rate": rate, "reason": reason,
                 "stop": False, "spec_key": "k", "clock_origin": 0, "state_after": {}, "gap": 0,
                 "rewound": False, "superseded": False, "decided_at": now}
                for epoch, (rate, reason) in enumerate(rows)
            ])  # fmt: skip
        upgrade_schema(engine)
        with engine.connect() as connection:
            stored = (
                connection.execute(select(decisions.c.reductions).order_by(decisions.c.epoch))
                .scalars()
                .all()
            )
        assert stored == preview.reductions
    finally:
        engine.dispose()


def test_pyformat_placeholders_become_numbered_ones_a_name_keeping_its_number() -> None:
    # The decision's statements reach PostgreSQL with its own `$n` placeholders (psycopg's
    # RawCursor); a repeated name is one parameter, and `%%` is a literal percent sign.
    sql, names = numbered_placeholders(
        "UPDATE t SET a=%(a)s, b=%(b)s WHERE c LIKE 'x%%' AND d = %(a)s::INTEGER"
    )
    assert sql == "UPDATE t SET a=$1, b=$2 WHERE c LIKE 'x%' AND d = $1::INTEGER"
    assert names == ["a", "b"]
