"""Engine creation: SQLite pragmas and explicit BEGIN, PostgreSQL pooling, write transactions.

SQLite: pysqlite's own transaction handling is switched off (`isolation_level = None`) and
SQLAlchemy's `begin` event emits the BEGIN itself, as the SQLAlchemy docs' "Serializable isolation
/ Savepoints / Transactional DDL" recipe for pysqlite shows. Write transactions use
`BEGIN IMMEDIATE`, so two processes deciding for one job queue on the database lock instead of
failing to upgrade a read lock; read-only transactions use a plain (deferred) BEGIN.
PostgreSQL: a PATCH locks the job row with `SELECT ... FOR UPDATE`; decisions lock nothing while
they compute and write with a compare-and-set (see `decisions/service.py`). Commits stay durable
(`synchronous_commit` is left on: a decision answered is a decision kept).
"""

from __future__ import annotations

import re
import select
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from psycopg import errors as psycopg_errors
from psycopg.abc import PQGen
from psycopg.pq import ConnStatus
from sqlalchemy import ClauseElement, Connection, Dialect, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler

DEFAULT_DATABASE_URL = "sqlite:///./lrhub.db"
"""`LRHUB_DATABASE_URL` when unset: an SQLite file in the working directory."""
DEFAULT_LOCK_TIMEOUT_SECONDS = 5.0
DEFAULT_IO_TIMEOUT_SECONDS = 30.0
"""`LRHUB_DATABASE_TIMEOUT` when unset: how long one PostgreSQL round trip may take."""
_WRITE_OPTION = "lrhub_write"


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(
    database_url: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    io_timeout: float | None = DEFAULT_IO_TIMEOUT_SECONDS,
    **kwargs: Any,
) -> Engine:
    """An Engine for `database_url`, configured for lrhub's transactions.

    A statement that waits longer than `lock_timeout` seconds for a lock fails (SQLite's busy
    timeout, PostgreSQL's `lock_timeout`); the service answers it 503 with Retry-After.
    PostgreSQL: a round trip (a statement and its rows, a commit) that has no answer within
    `io_timeout` seconds (None: no bound) closes its connection and fails as a lost connection
    does, so a server that vanished without a word (no FIN, no RST) cannot hang a request.
    """
    if database_url.startswith("sqlite"):
        return _sqlite_engine(database_url, lock_timeout, **kwargs)
    return _postgresql_engine(database_url, lock_timeout, io_timeout, **kwargs)


class _TimedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server fails after `io_timeout` seconds.

    Everything a connection sends and reads after connecting (execute, fetch, commit,
    rollback) goes through `wait`. Kernel keepalives and `tcp_user_timeout` do not suffice:
    a peer that still acknowledges TCP but never answers (a stuck proxy or pooler, a frozen
    server) keeps them content forever.
    """

    io_timeout: float | None = DEFAULT_IO_TIMEOUT_SECONDS

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        """`psycopg.Connection.wait` bounded by `io_timeout` unless given a `timeout`."""
        bound = self.io_timeout if timeout is None else timeout
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except psycopg_errors._WaitTimeout:
            if timeout is not None:
                raise  # the caller's own bound (psycopg's cancel path, notifies)
            # Mid-protocol: the connection cannot be used again. Closing it makes it `broken`,
            # so SQLAlchemy's disconnect check drops it from the pool.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {bound} s (LRHUB_DATABASE_TIMEOUT)"
            ) from None


def _postgresql_engine(
    database_url: str, lock_timeout: float, io_timeout: float | None, **kwargs: Any
) -> Engine:
    # No `pool_pre_ping`: its ping is a round trip on every checkout (one in six of a
    # decision's). A pooled connection whose backend went away is found without one, below.
    options = f"-c lock_timeout={round(lock_timeout * 1000)}"
    pooling = {} if "poolclass" in kwargs else {"pool_size": 10, "max_overflow": 20}
    # TCP keepalives and a user timeout: a connection whose peer vanished without FIN or RST
    # (a dead host, a dropped route) fails within about 30 s instead of hanging its request.
    connect_args = {
        "options": options,
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    engine = create_engine(database_url, connect_args=connect_args, **pooling, **kwargs)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Dialect, _record: object, cargs: Any, cparams: Any) -> Any:
        connection = _TimedConnection.connect(*cargs, **cparams)
        connection.io_timeout = io_timeout
        return connection

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


def _sqlite_engine(database_url: str, lock_timeout: float, **kwargs: Any) -> Engine:
    engine = create_engine(
        database_url,
        connect_args={"timeout": lock_timeout, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin event emit BEGIN instead of pysqlite guessing when to.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor, lock_timeout)
        cursor.execute(f"PRAGMA busy_timeout={round(lock_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _switch_to_wal(cursor: sqlite3.Cursor, lock_timeout: float) -> None:
    """`PRAGMA journal_mode=WAL`, retried while the database is busy, for `lock_timeout` seconds.

    On a file still in rollback-journal mode (a new one), the switch upgrades a read lock to a
    write lock, and SQLite answers SQLITE_BUSY at once, without waiting in its busy handler
    (that could deadlock), while another connection holds a write lock: several servers or
    workers opening one new file together fail there. Once the file is in WAL mode the pragma
    takes no write lock.
    """
    deadline = time.monotonic() + lock_timeout
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            remaining = deadline - time.monotonic()
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or remaining <= 0:
                raise
            # Backing off from 1 ms to 100 ms, as SQLite's own busy handler does.
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-write transaction (SQLite: BEGIN IMMEDIATE), committed when the block ends."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def autocommit_statement(engine: Engine) -> Iterator[Connection]:
    """PostgreSQL: a connection for one statement that commits by itself (no BEGIN, no COMMIT
    round trips); for a statement that does all its writes atomically."""
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


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
    with autocommit_statement(engine) as connection:
        yield connection


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction: a consistent snapshot for reads that span several queries."""
    with engine.connect() as connection, connection.begin():
        yield connection


class DriverStatement:
    """A Core statement compiled once per kind of database and run on the driver's own cursor.

    For the few fixed statements on the decision path: SQLAlchemy's per-execution work (the
    compiled-cache lookup, building the parameters, events, setting up a result) costs more than
    SQLite's own execution of such a statement, and a good part of a PostgreSQL round trip. The
    SQL and the parameters' conversions (JSON, datetimes, booleans) are SQLAlchemy's, taken from
    the compiled statement, so rows are written exactly as through SQLAlchemy.

    Parameters are bound by position: SQLite's `?`, and on PostgreSQL the server's own `$n`
    through psycopg's `RawCursor`. psycopg would otherwise parse a `%(name)s` query on every
    execution, as it caches the parsing only for statements of at most 50 parameters.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, list[_Parameter]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, list[_Parameter]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            sql = self._statement.compile(dialect=dialect)
            assert isinstance(sql, SQLCompiler)
            binds = {name: bind for bind, name in sql.bind_names.items()}
            if sql.positiontup is not None:  # qmark (SQLite)
                text, names = sql.string, list(sql.positiontup)
            else:  # pyformat (psycopg)
                text, names = numbered_placeholders(sql.string)
            parameters = [
                _Parameter(
                    name,
                    binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                    binds[name].value,
                )
                for name in names
            ]
            compiled = self._compiled[dialect.name] = (text, parameters)
        return compiled

    def _run(self, write: DriverWrite, values: Mapping[str, Any]) -> None:
        sql, parameters = self._compile(write.dialect)
        arguments = []
        for name, process, default in parameters:
            value = values.get(name, default)
            arguments.append(value if process is None else process(value))
        try:
            write.cursor.execute(sql, arguments)
        except write.errors as error:
            # As SQLAlchemy raises it: a locked database or lock timeout is a 503 as elsewhere.
            raise DBAPIError.instance(sql, arguments, error, write.errors) from error

    def execute(self, write: DriverWrite, values: Mapping[str, Any]) -> int:
        """Run with `values` by parameter name (a literal's own value when absent); the number
        of rows it changed."""
        self._run(write, values)
        rowcount: int = write.cursor.rowcount
        return rowcount

    def first(self, write: DriverWrite, values: Mapping[str, Any]) -> Any:
        """Run as `execute` does; the first row it returned, or None."""
        self._run(write, values)
        return write.cursor.fetchone()


_PYFORMAT_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def numbered_placeholders(sql: str) -> tuple[str, list[str]]:
    """`sql` in psycopg's pyformat (`%(name)s`, `%%`) as PostgreSQL's own `$1, $2, ...` (a
    name used twice keeps its number) with a literal `%`; and the names, in number order."""
    numbers: dict[str, int] = {}

    def numbered(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    return _PYFORMAT_PLACEHOLDER.sub(numbered, sql), list(numbers)


class _Parameter(NamedTuple):
    name: str
    process: Callable[[Any], Any] | None
    default: Any


@dataclass(frozen=True)
class DriverWrite:
    """A pooled connection's own cursor, open for `DriverStatement`s."""

    cursor: Any  # sqlite3.Cursor or psycopg.Cursor
    dialect: Dialect
    errors: type[Exception]  # the driver's base exception


@contextmanager
def driver_write(engine: Engine) -> Iterator[DriverWrite]:
    """A connection of the engine's pool (with its pragmas, timeouts and dead-connection
    check) for `DriverStatement`s. SQLite: one `BEGIN IMMEDIATE` transaction, committed when the
    block ends. PostgreSQL: autocommit, so each statement must do all its writes atomically (as
    `decide_on_driver` does). Rolled back on an exception; a connection the error broke is
    dropped from the pool."""
    sqlite = is_sqlite(engine)
    errors: type[Exception] = sqlite3.Error if sqlite else psycopg.Error
    try:
        pooled = engine.raw_connection()
    except errors as error:
        # The pool does not wrap a failed connect as Engine.connect does: wrap it the same way,
        # so a database that refuses connections is answered 503 like any other outage.
        raise DBAPIError.instance(None, None, error, errors) from error
    driver: Any = pooled.driver_connection
    # psycopg's RawCursor sends `$n` queries as they are (see `DriverStatement`).
    cursor: Any = driver.cursor() if sqlite else psycopg.RawCursor(driver)
    try:
        try:
            if sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            else:
                driver.autocommit = True
            yield DriverWrite(cursor, engine.dialect, errors)
            if sqlite:
                cursor.execute("COMMIT")
        except errors as error:
            raise DBAPIError.instance(None, None, error, errors) from error
    except BaseException as error:
        original = error.orig if isinstance(error, DBAPIError) else None
        if isinstance(original, errors) and engine.dialect.is_disconnect(
            original,  # type: ignore[arg-type]  # the driver's own error, as SQLAlchemy passes it
            driver,
            cursor,
        ):
            pooled.invalidate(original)
        elif sqlite and driver.in_transaction:
            driver.rollback()
        raise
    finally:
        if pooled.is_valid:
            cursor.close()
            if not sqlite:
                driver.autocommit = False
        pooled.close()
