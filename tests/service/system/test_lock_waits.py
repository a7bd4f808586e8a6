"""A decision waiting for a database lock: the worker keeps answering health checks, and a wait
past `LRHUB_LOCK_TIMEOUT` is answered 503 with Retry-After (the client retries), never a frozen
worker or a 500."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.server import running_server

# It waits out a 3 s lock timeout by design, after starting a server: about 5 s.
pytestmark = pytest.mark.slow

PLATEAU = {"type": "reduce_on_plateau", "monitor": "val_loss", "initial_learning_rate": 0.1}


def test_health_checks_answer_while_a_decision_waits_and_the_wait_ends_in_503(
    tmp_path: Path,
) -> None:
    database = tmp_path / "lrhub.db"
    with running_server(
        tmp_path, database_url=f"sqlite:///{database}", env={"LRHUB_LOCK_TIMEOUT": "3"}
    ) as server:
        created = httpx.put(f"{server.url}/v1/jobs/locked", json={"spec": PLATEAU}, timeout=10)
        assert created.status_code == 201, created.text

        # Another process holds SQLite's write lock, as a long migration or backup would.
        holder = sqlite3.connect(database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        sent = threading.Event()
        answers: list[httpx.Response] = []

        def decide() -> None:
            hooks = {"request": [lambda _request: sent.set()]}
            with httpx.Client(event_hooks=hooks, timeout=30) as client:
                answers.append(client.post(f"{server.url}/v1/jobs/locked/epochs/0", json={}))

        waiting = threading.Thread(target=decide)
        waiting.start()
        try:
            assert sent.wait(timeout=10)
            probes = 0
            with httpx.Client(base_url=server.url, timeout=2) as probe:
                while waiting.is_alive():
                    assert probe.get("/healthz").status_code == 200
                    assert probe.get("/readyz").status_code == 200
                    probes += 1
            waiting.join()
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        assert probes > 0
        (answer,) = answers
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "1"
        assert answer.headers["content-type"].startswith("application/problem+json")
        # Once the lock is free the same request decides, and nothing was half-written.
        retried = httpx.post(f"{server.url}/v1/jobs/locked/epochs/0", json={}, timeout=10)
        assert retried.status_code == 200, retried.text
        assert retried.json()["replayed"] is False
        assert "Traceback" not in server.log()
