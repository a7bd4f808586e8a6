"""A PostgreSQL connection that dies silently (no FIN, no RST, no answer) fails its request
with a 503 instead of hanging it, and the server recovers once the database is reachable again.

The database is reached through a loopback proxy that stops forwarding mid-run: the server's
sockets stay open and acknowledged, so only the server's own I/O deadline
(LRHUB_DATABASE_TIMEOUT) can end the wait. The client's timeout, ten times that deadline, is
what would fail the test on a hang.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.support.postgres import scratch_database
from tests.support.server import running_server
from tests.support.tcp_proxy import blackhole_proxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DATABASE_TIMEOUT_SECONDS = 2
CLIENT_TIMEOUT_SECONDS = 10 * DATABASE_TIMEOUT_SECONDS
SPEC = {"type": "constant", "learning_rate": 0.1}
# Pooled connections opened before the blackhole each fail once after it is lifted (a pool
# holds at most 30); a few more requests than that must find the server recovered.
RECOVERY_ATTEMPTS = 40


def test_a_silently_dead_database_answers_503_and_the_server_recovers(
    tmp_path: Path, postgres_url: str
) -> None:
    with scratch_database(postgres_url) as database_url:
        url = sa.make_url(database_url)
        with blackhole_proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port)
            env = {"LRHUB_DATABASE_TIMEOUT": str(DATABASE_TIMEOUT_SECONDS)}
            with (
                running_server(
                    tmp_path,
                    database_url=proxied.render_as_string(hide_password=False),
                    env=env,
                ) as server,
                httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_SECONDS) as client,
            ):
                assert client.put("/v1/jobs/quiet", json={"spec": SPEC}).status_code == 201
                assert client.post("/v1/jobs/quiet/epochs/0", json={}).status_code == 200

                proxy.blackhole()
                requests: list[tuple[str, str, dict[str, object] | None]] = [
                    ("POST", "/v1/jobs/quiet/epochs/1", {}),
                    ("GET", "/v1/jobs/quiet", None),
                    ("GET", "/v1/jobs/quiet/epochs", None),
                ]
                for method, path, body in requests:
                    answer = client.request(method, path, json=body)
                    assert answer.status_code == 503, (path, answer.text)
                    assert answer.headers["content-type"] == "application/problem+json"
                    assert "Retry-After" in answer.headers

                proxy.restore()
                statuses = []
                for _ in range(RECOVERY_ATTEMPTS):
                    answer = client.post("/v1/jobs/quiet/epochs/1", json={})
                    statuses.append(answer.status_code)
                    if answer.status_code == 200:
                        break
                assert statuses[-1] == 200, statuses
                assert set(statuses[:-1]) <= {503}, statuses
                history = client.get("/v1/jobs/quiet/epochs").json()["items"]
                assert [item["epoch"] for item in history] == [0, 1]
            assert "Traceback" not in server.log(), server.log()[-3000:]
