"""An open event stream ends when its token stops authenticating it: revoked or expired on any
replica (two real servers sharing one database), or a job token rotated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from lrhub.service.clock import utc_now
from lrhub.service.storage.database import make_engine
from lrhub.service.storage.tables import tokens
from tests.support.event_stream import StreamFollower
from tests.support.postgres import BOTH_DATABASES, database_for
from tests.support.server import ServerProcess, running_replicas

pytestmark = pytest.mark.slow

ADMIN_SECRET = "stream-revocation-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
ENV = {"LRHUB_ADMIN_TOKEN": f"ops:{ADMIN_SECRET}", "LRHUB_STREAM_POLL_SECONDS": "0.05"}
SPEC = {"type": "constant", "learning_rate": 0.1}
TIMEOUT = 30.0


@pytest.fixture(params=BOTH_DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_for(request, tmp_path, "lrhub_revoke") as url:
        yield url


@pytest.fixture
def replicas(tmp_path: Path, database_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with running_replicas(tmp_path, database_url, ENV) as servers:
        yield servers


def _new_token(url: str, name: str, role: str) -> str:
    created = httpx.post(f"{url}/v1/tokens", json={"name": name, "role": role}, headers=ADMIN)
    assert created.status_code == 201, created.text
    secret: str = created.json()["token"]
    return secret


def _decide(url: str, token: str, epoch: int) -> None:
    answer = httpx.post(
        f"{url}/v1/jobs/watched/epochs/{epoch}",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text


def _next_decision(follower: StreamFollower) -> None:
    """Take events until a decision comes (audit events may come first)."""
    while follower.take(1)[0].event != "decision":
        pass


def test_open_streams_end_when_their_token_is_revoked_rotated_or_expired(
    replicas: tuple[ServerProcess, ServerProcess], database_url: str
) -> None:
    first, second = replicas
    created = httpx.put(f"{first.url}/v1/jobs/watched", json={"spec": SPEC}, headers=ADMIN)
    job_token = created.json()["token"]
    revoked = StreamFollower(first.url, token=_new_token(first.url, "revoked", "viewer"))
    expiring = StreamFollower(first.url, token=_new_token(first.url, "expiring", "viewer"))
    rotated = StreamFollower(first.url, job="watched", token=job_token)
    kept = StreamFollower(first.url, token=_new_token(first.url, "kept", "viewer"))
    try:
        _decide(second.url, job_token, 0)
        for follower in (revoked, expiring, rotated, kept):
            _next_decision(follower)
        # On the other replica: revoke one, rotate the job's token; expire one in the database.
        assert httpx.delete(f"{second.url}/v1/tokens/revoked", headers=ADMIN).status_code == 204
        new_job_token = httpx.post(f"{second.url}/v1/jobs/watched/token", headers=ADMIN).json()[
            "token"
        ]
        engine = make_engine(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    update(tokens)
                    .where(tokens.c.name == "expiring")
                    .values(expires_at=utc_now() - timedelta(seconds=1))
                )
        finally:
            engine.dispose()
        for follower in (revoked, expiring, rotated):
            # The stream ends (at most the rotation's audit event got through before).
            seen = follower.take_until_closed(TIMEOUT)
            assert all(event.event != "decision" for event in seen)
        _decide(second.url, new_job_token, 1)
        _next_decision(kept)
    finally:
        for follower in (revoked, expiring, rotated, kept):
            follower.close()
