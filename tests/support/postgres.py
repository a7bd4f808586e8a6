"""A throwaway PostgreSQL database per test, so tests never see each other's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa


@contextmanager
def scratch_database(server_url: str, prefix: str = "lrhub_sys") -> Iterator[str]:
    """Create `<prefix>_<random>` on the server of `server_url`, yield its URL, drop it after.

    `server_url` may name any database on the server; the new one is created from the
    `postgres` maintenance database, and dropped even if connections are still open.
    """
    url = sa.make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


#: `params` of a fixture whose tests run once on SQLite and once on PostgreSQL.
BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def database_for(request: pytest.FixtureRequest, folder: Path, prefix: str) -> Iterator[str]:
    """The URL of the database a `BOTH_DATABASES` fixture's run is on: a SQLite file in `folder`,
    or a scratch PostgreSQL database named `<prefix>_<random>` (LRHUB_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{folder / 'lrhub.db'}"
        return
    with scratch_database(request.getfixturevalue("postgres_url"), prefix=prefix) as url:
        yield url
