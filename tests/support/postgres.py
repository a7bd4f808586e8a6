"""A throwaway PostgreSQL database per test, so tests never see each other's rows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

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
