"""Engine creation: SQLite pragmas and explicit BEGIN, PostgreSQL pooling, write transactions.

SQLite: pysqlite's own transaction handling is switched off (`isolation_level = None`) and
SQLAlchemy's `begin` event emits the BEGIN itself, as the SQLAlchemy docs' "Serializable isolation
/ Savepoints / Transactional DDL" recipe for pysqlite shows. Write transactions use
`BEGIN IMMEDIATE`, so two processes deciding for one job queue on the database lock instead of
failing to upgrade a read lock; read-only transactions use a plain (deferred) BEGIN.
PostgreSQL: write transactions lock the job row with `SELECT ... FOR UPDATE` (see `job_store`);
commits stay durable (`synchronous_commit` is left on: a decision answered is a decision kept).
"""

from __future__ import annotations

import select
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from psycopg.pq import ConnStatus
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry
from starlette.concurrency import run_in_threadpool

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "lrhub_write"
ParamsT = ParamSpec("ParamsT")
ResultT = TypeVar("ResultT")


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


async def run_blocking(
    engine: Engine,
    function: Callable[ParamsT, ResultT],
    *args: ParamsT.args,
    **kwargs: ParamsT.kwargs,
) -> ResultT:
    """Call `function` (blocking database work) from async code, where it costs least.

    SQLite: inline on the event loop. Its writes are serialized by `BEGIN IMMEDIATE` anyway and
    take tens of microseconds in-process, less than the thread-pool hand-off (measured: -9 to
    -21% decision latency). The price: while a write waits for another process's lock (several
    workers on one file), this worker answers nothing else.
    PostgreSQL: in the thread pool, so network round trips and commit flushes of concurrent
    requests overlap instead of blocking the event loop (inline halved throughput, measured).
    """
    if is_sqlite(engine):
        return function(*args, **kwargs)
    return await run_in_threadpool(function, *args, **kwargs)


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An Engine for `database_url`, configured for lrhub's transactions."""
    if database_url.startswith("sqlite"):
        return _sqlite_engine(database_url, **kwargs)
    return _postgresql_engine(database_url, **kwargs)


def _postgresql_engine(database_url: str, **kwargs: Any) -> Engine:
    # No `pool_pre_ping`: its ping is a round trip on every checkout (one in six of a
    # decision's). A pooled connection whose backend went away is found without one, below.
    engine = create_engine(database_url, pool_size=10, max_overflow=20, **kwargs)

    @event.listens_for(engine, "checkout")
    def _refuse_dead_connection(
        dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: object
    ) -> None:
        # An idle connection receives nothing unasked, except the FATAL message and EOF of a
        # backend that was terminated or shut down: readable means dead. Raising
        # DisconnectionError makes the pool discard it and check out a fresh connection.
        pgconn = dbapi_connection.pgconn
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
        if readable or pgconn.status != ConnStatus.OK:
            raise DisconnectionError("the pooled PostgreSQL connection was closed by the server")

    return engine


def _sqlite_engine(database_url: str, **kwargs: Any) -> Engine:
    engine = create_engine(
        database_url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin event emit BEGIN instead of pysqlite guessing when to.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction (SQLite: BEGIN IMMEDIATE), committed when the block ends."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def single_statement_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read-only statement, which needs no snapshot across statements.

    PostgreSQL runs it in autocommit: no BEGIN and COMMIT round trips around it. SQLite, where
    those cost no round trip, keeps its read transaction (switching its connections' isolation
    would undo the explicit-BEGIN setup above).
    """
    if is_sqlite(engine):
        with read_transaction(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction: a consistent snapshot for reads that span several queries."""
    with engine.connect() as connection, connection.begin():
        yield connection
