"""Suite-wide fixtures: the PostgreSQL URL and real servers; modules that `-m` leaves out whole
are not imported."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, running_server
from tests.support.silent_service import SilentService

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


@pytest.fixture
def restarted() -> Iterator[list[ServerProcess]]:
    """Servers a test starts itself (a restart after an outage), stopped after it."""
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def silent() -> Iterator[SilentService]:
    """A TCP service on loopback that accepts every connection and never answers."""
    service = SilentService()
    yield service
    service.close()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Do not import a test module whose own `pytestmark` the `-m` expression excludes.

    pytest deselects by mark only after it has imported a module, and the modules marked keras
    or torch import TensorFlow or PyTorch at their top: about 7 s of CPU in each xdist worker of
    `scripts/test --fast`, which runs none of their tests. Only the plain form
    `not a and not b ...` is read (what `--fast` and `-m "not slow"` pass); for any other
    expression every module is imported, as pytest does.
    """
    excluded = _excluded_marks(config.getoption("markexpr"))
    if not excluded or not re.fullmatch(r"test_.*\.py", collection_path.name):
        return None
    return bool(excluded & _module_marks(collection_path)) or None


def _excluded_marks(markexpr: str) -> set[str]:
    """The marks `not a and not b ...` excludes; nothing for any other expression."""
    terms = [re.fullmatch(r"not\s+(\w+)", term.strip()) for term in markexpr.split(" and ")]
    return {term[1] for term in terms if term} if all(terms) else set()


def _module_marks(path: Path) -> set[str]:
    """The names of the `pytest.mark.NAME` marks in a module's top-level `pytestmark = ...`."""
    source = path.read_text()
    if "pytestmark" not in source:
        return set()
    return {
        node.attr
        for statement in ast.parse(source).body
        if isinstance(statement, ast.Assign)
        and any(
            isinstance(target, ast.Name) and target.id == "pytestmark"
            for target in statement.targets
        )
        for node in ast.walk(statement.value)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    }
