"""Tokens on real servers sharing one PostgreSQL database: a revocation or rotation on one server
holds on the other at once (no server keeps a copy), and stored tokens that cannot be looked up
while the database is down answer 503 like everything else, which clients retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.db_faults import DatabaseFaults
from tests.support.postgres import scratch_database
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, running_replicas, start_server

pytestmark = pytest.mark.postgres

ADMIN_SECRET = "two-servers-admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
ENV = {"LRHUB_ADMIN_TOKEN": f"ops:{ADMIN_SECRET}"}
SPEC = {"type": "constant", "learning_rate": 0.1}
TIMEOUT = 30.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    with scratch_database(postgres_url, prefix="lrhub_tokens") as url:
        yield url


@pytest.fixture
def two_servers(tmp_path: Path, database_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with running_replicas(tmp_path, database_url, ENV) as servers:
        yield servers


def test_revocation_and_rotation_on_one_server_hold_on_the_other_at_once(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = two_servers
    with httpx.Client(base_url=one.url, headers=ADMIN, timeout=TIMEOUT) as admin_one:
        viewer = admin_one.post("/v1/tokens", json={"name": "dash", "role": "viewer"})
        assert viewer.status_code == 201, viewer.text
        created = admin_one.put("/v1/jobs/train", json={"spec": SPEC})
        assert created.status_code == 201, created.text
    viewer_token, old_job_token = viewer.json()["token"], created.json()["token"]

    # Both servers accept both tokens (each request is a database lookup on that server).
    for server in (one, two):
        assert httpx.get(f"{server.url}/v1/jobs", headers=bearer(viewer_token)).status_code == 200
        decided = httpx.post(f"{server.url}/v1/jobs/train/epochs/0", json={},
                             headers=bearer(old_job_token), timeout=TIMEOUT)  # fmt: skip
        assert decided.status_code == 200, decided.text

    # Revoked on the first server: the second refuses the very next request.
    assert httpx.delete(f"{one.url}/v1/tokens/dash", headers=ADMIN).status_code == 204
    refused = httpx.get(f"{two.url}/v1/jobs", headers=bearer(viewer_token), timeout=TIMEOUT)
    assert_problem(refused.status_code, refused.headers.get("content-type"), refused.content,
                   expected_status=401, detail_words=("revoked",))  # fmt: skip

    # Rotated on the second server: the first refuses the old job token, accepts the new one.
    rotated = httpx.post(f"{two.url}/v1/jobs/train/token", headers=ADMIN, timeout=TIMEOUT)
    assert rotated.status_code == 200, rotated.text
    new_job_token = rotated.json()["token"]
    old = httpx.post(f"{one.url}/v1/jobs/train/epochs/1", json={},
                     headers=bearer(old_job_token), timeout=TIMEOUT)  # fmt: skip
    assert old.status_code == 401, old.text
    new = httpx.post(f"{one.url}/v1/jobs/train/epochs/1", json={},
                     headers=bearer(new_job_token), timeout=TIMEOUT)  # fmt: skip
    assert new.status_code == 200, new.text
    for server in (one, two):
        assert "Traceback" not in server.log(), server.log()[-3000:]


def test_stored_tokens_answer_503_while_the_database_is_down(
    tmp_path: Path, database_url: str
) -> None:
    server = start_server(tmp_path, database_url=database_url, env=ENV)
    faults = DatabaseFaults(database_url)
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=TIMEOUT) as admin:
            job_token = admin.put("/v1/jobs/train", json={"spec": SPEC}).json()["token"]
            api_token = admin.post("/v1/tokens", json={"name": "ci", "role": "operator"}).json()[
                "token"
            ]
        callers = {"job": bearer(job_token), "operator": bearer(api_token), "admin": ADMIN}
        with faults.outage():
            for caller, headers in callers.items():
                answer = httpx.post(f"{server.url}/v1/jobs/train/epochs/0", json={},
                                    headers=headers, timeout=TIMEOUT)  # fmt: skip
                assert_problem(answer.status_code, answer.headers.get("content-type"),
                               answer.content, expected_status=503,
                               detail_words=("database", "retry"))  # fmt: skip
                assert answer.status_code == 503, caller
        # The database is back: the same requests succeed (the first decides, then replays).
        for headers in callers.values():
            answer = httpx.post(f"{server.url}/v1/jobs/train/epochs/0", json={},
                                headers=headers, timeout=TIMEOUT)  # fmt: skip
            assert answer.status_code == 200, answer.text
        assert "Traceback" not in server.log(), server.log()[-3000:]
    finally:
        faults.close()
        server.stop()
