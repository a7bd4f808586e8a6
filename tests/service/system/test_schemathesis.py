"""Schemathesis against real servers: every operation of the committed `openapi.json`, with
generated valid and invalid input, must never answer 5xx nor anything its schema does not
describe; with auth on, a request without a token gets 401 and nothing else.

Two phases: Hypothesis-driven generation (positive and negative), and schemathesis's coverage
phase (boundary values and type confusions of every field, the cases that found the 5xx answers
to huge integers, lax types and unstorable strings) run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.postgres import scratch_database
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

# An event stream never ends by itself: schemathesis reads it until the request timeout passes
# (10 s by default, for each of the stream's cases); one second shows the headers and the first
# events, which is what the checks look at.
STREAM_PATH = "/v1/stream"
STREAM_READ_SECONDS = 1.0


def transport(case: Case[Any]) -> dict[str, Any]:
    """The request options of `case`: a short read for the event stream."""
    return {"timeout": STREAM_READ_SECONDS} if case.path == STREAM_PATH else {}


schema = schemathesis.openapi.from_path(OPENAPI_PATH)
# Attached to the Hypothesis tests, the coverage phase would enumerate every case up front, for
# each test: about 7,800 per operation whose body holds a spec (the recursive spec union), minutes
# in all. It runs in `test_coverage_phase_conforms` instead, bounded in cases and time.
schema.config.phases.coverage.enabled = False
# Coverage cases sent per operation at most (evenly spread over its enumeration, so every field
# of a spec gets its share; 150 keeps a run near a minute now that the API has grown), and the
# time one server's coverage run may take in all: a guard against a hung server, with room for
# a CI machine whose two cores run the rest of the suite meanwhile.
COVERAGE_CASES_PER_OPERATION = 150
COVERAGE_BUDGET_SECONDS = 300.0
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
    case.call_and_validate(base_url=open_server.url, checks=CHECKS, **transport(case))


@schema.parametrize()
@HYPOTHESIS
def test_admin_token_conforms(case: Case[Any], secured_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    case.call_and_validate(
        base_url=secured_server.url, headers=headers, checks=CHECKS, **transport(case)
    )


@schema.parametrize()
@HYPOTHESIS
def test_no_token_gets_only_401(case: Case[Any], secured_server: ServerProcess) -> None:
    response = case.call(base_url=secured_server.url, **transport(case))
    if case.path in OPEN_PATHS:
        assert response.status_code < 500, response.text
        return
    assert response.status_code == 401, (case.method, case.formatted_path, response.text)
    assert response.headers["www-authenticate"][0].startswith("Bearer")


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def coverage_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Auth off, on each database."""
    tmp_path = tmp_path_factory.mktemp(f"fuzz-coverage-{request.param}")
    if request.param == "sqlite":
        with running_server(tmp_path) as server:
            yield server
        return
    with (
        scratch_database(request.getfixturevalue("postgres_url"), prefix="lrhub_fuzz") as url,
        running_server(tmp_path, database_url=url) as server,
    ):
        yield server


def coverage_cases(operation: Any) -> list[Case[Any]]:
    """At most COVERAGE_CASES_PER_OPERATION of the operation's coverage-phase cases, evenly
    spread over all of them (deterministic: the enumeration is)."""
    generator = CoverageGenerator(
        operation=operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    cases = list(generator)
    stride = max(1, len(cases) // COVERAGE_CASES_PER_OPERATION)
    return cases[::stride][:COVERAGE_CASES_PER_OPERATION]


def test_coverage_phase_conforms(coverage_server: ServerProcess) -> None:
    deadline = time.monotonic() + COVERAGE_BUDGET_SECONDS
    failures: list[str] = []
    sent: dict[str, int] = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation the schema describes validly
        operation = result.ok()
        sent[operation.label] = 0
        for case in coverage_cases(operation):
            if time.monotonic() > deadline:
                break
            try:
                case.call_and_validate(
                    base_url=coverage_server.url, checks=CHECKS, **transport(case)
                )
            except AssertionError as failure:  # schemathesis's failures are AssertionErrors
                failures.append(f"{operation.label}: {str(failure)[:2000]}")
            sent[operation.label] += 1
    assert not failures, "\n\n".join(failures[:10])
    # The budget is a guard against a hung server, not a sampling knob: every operation was
    # reached.
    assert all(sent.values()), sent
    assert "Traceback" not in coverage_server.log(), coverage_server.log()[-5000:]
