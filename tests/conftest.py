"""Suite-wide fixtures: the PostgreSQL URL and real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, running_server

POSTGRES_SKIP_MESSAGE = (
    "PostgreSQL tests need LRHUB_TEST_DATABASE_URL, e.g. "
    "LRHUB_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test pytest"
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL URL, or skip saying how to enable these tests."""
    url = os.environ.get("LRHUB_TEST_DATABASE_URL")
    if not url:
        pytest.skip(POSTGRES_SKIP_MESSAGE)
    return url


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `lrhub serve` on a free port with a fresh SQLite file, auth off."""
    with running_server(tmp_path) as server:
        yield server
