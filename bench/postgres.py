"""Which PostgreSQL server the benchmarks use, and whether it answers.

Each benchmark creates its own scratch database there (`tests.support.postgres`), named
`lrhub_bench_<random>` and dropped afterwards, so the tests' database is never touched.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.support.postgres import scratch_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
URL_VARIABLE = "LRHUB_BENCH_POSTGRES_URL"
SCRATCH_PREFIX = "lrhub_bench"


def configured_url() -> str:
    """`$LRHUB_BENCH_POSTGRES_URL`, else the local server's maintenance database."""
    return os.environ.get(URL_VARIABLE, DEFAULT_URL)


def reachable(url: str) -> str | None:
    """None when PostgreSQL at `url` answers, else the reason it does not."""
    target = make_url(url).set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(target.render_as_string(hide_password=False), connect_timeout=5):
            return None
    except psycopg.OperationalError as error:
        return f"PostgreSQL unreachable at {url}: {error}".strip()


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A scratch database on the server of `url`, dropped afterwards.

    A failed drop (another session terminated ours: the server is shared) is reported and
    does not throw away the measurements just made.
    """
    scratch = scratch_database(url, SCRATCH_PREFIX)
    database_url = scratch.__enter__()
    try:
        yield database_url
    finally:
        try:
            scratch.__exit__(None, None, None)
        except OperationalError as error:
            print(f"[bench] could not drop a scratch database: {error}", file=sys.stderr)
