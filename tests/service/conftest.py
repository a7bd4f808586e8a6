"""Fixtures for the service's own tests: the real app on a real database, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lrhub.service.app import create_app
from lrhub.service.settings import ServerSettings
from lrhub.service.storage.database import make_engine
from lrhub.service.storage.migrate import upgrade_schema
from tests.support.postgres import scratch_database

ADMIN_TOKEN = "alice:s3cret-admin-token"
ADMIN_HEADERS = {"Authorization": "Bearer s3cret-admin-token"}


def migrated(database_url: str) -> str:
    """`database_url` after creating the schema there, as `lrhub serve` does."""
    engine = make_engine(database_url)
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()
    return database_url


def app_client(database_url: str, **settings: object) -> TestClient:
    """A TestClient on `create_app` for `database_url` (the schema must exist)."""
    app = create_app(ServerSettings(database_url=database_url, **settings))  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file."""
    return migrated(f"sqlite:///{tmp_path / 'lrhub.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database without schema, of each kind; PostgreSQL needs LRHUB_TEST_DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lrhub.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    with scratch_database(server_url, prefix="lrhub_api") as url:
        yield url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A fresh, migrated database of each kind."""
    return migrated(empty_db_url)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[TestClient]:
    """The app on SQLite with auth off."""
    with app_client(sqlite_url) as client:
        yield client


@pytest.fixture
def api_on(db_url: str) -> Iterator[TestClient]:
    """The app with auth off, once on SQLite and once on PostgreSQL."""
    with app_client(db_url) as client:
        yield client


@pytest.fixture
def secure_api_on(db_url: str) -> Iterator[TestClient]:
    """The app with admin token `alice`, once on SQLite and once on PostgreSQL."""
    with app_client(db_url, admin_token=ADMIN_TOKEN) as client:
        yield client


@pytest.fixture
def secure_api(sqlite_url: str) -> Iterator[TestClient]:
    """The app on SQLite with admin token `alice` (see ADMIN_HEADERS)."""
    with app_client(sqlite_url, admin_token=ADMIN_TOKEN) as client:
        yield client
