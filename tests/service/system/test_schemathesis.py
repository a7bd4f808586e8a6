"""Schemathesis against real servers: every operation of the committed `openapi.json`, with
generated valid and invalid input, must never answer 5xx nor anything its schema does not
describe; with auth on, a request without a token gets 401 and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

OPENAPI_PATH = Path(__file__).resolve().parents[3] / "openapi.json"
ADMIN_TOKEN = "s3cret-admin-token"
# Routes that answer without a token even when auth is on.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics")
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

schema = schemathesis.openapi.from_path(OPENAPI_PATH)
# The coverage phase enumerates boundary values of every nested schema up front; on the
# recursive spec union (`sequence` stages and plateau `base` hold specs) it does not finish.
schema.config.phases.coverage.enabled = False
# Deterministic, so a finding reproduces on every run; small, so the file stays well under
# two minutes.
MAX_EXAMPLES = 40
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,
)
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Auth off, as on a developer's machine."""
    with running_server(tmp_path_factory.mktemp("fuzz-open")) as server:
        yield server


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Auth on, with one admin token."""
    env = {"LRHUB_ADMIN_TOKEN": f"alice:{ADMIN_TOKEN}"}
    with running_server(tmp_path_factory.mktemp("fuzz-secured"), env=env) as server:
        yield server


@schema.parametrize()
@HYPOTHESIS
def test_open_server_conforms(case: Case[Any], open_server: ServerProcess) -> None:
    case.call_and_validate(base_url=open_server.url, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_admin_token_conforms(case: Case[Any], secured_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    case.call_and_validate(base_url=secured_server.url, headers=headers, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_no_token_gets_only_401(case: Case[Any], secured_server: ServerProcess) -> None:
    response = case.call(base_url=secured_server.url)
    if case.path in OPEN_PATHS:
        assert response.status_code < 500, response.text
        return
    assert response.status_code == 401, (case.method, case.formatted_path, response.text)
    assert response.headers["www-authenticate"][0].startswith("Bearer")
