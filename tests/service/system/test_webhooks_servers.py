"""Webhooks with real `lrhub serve` processes: an event survives a SIGKILL before its delivery,
during an attempt and between two attempts; two replicas on PostgreSQL deliver each attempt of
each message exactly once."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.service.helpers import PLATEAU
from tests.support.postgres import scratch_database
from tests.support.receiver import poll_until, running_receiver
from tests.support.server import ServerProcess, free_port, running_server, start_server

pytestmark = pytest.mark.slow

KEY = "a-webhook-key-of-at-least-32-characters"
README = Path(__file__).resolve().parents[3] / "README.md"


def webhook_env(**extra: str) -> dict[str, str]:
    return {"LRHUB_WEBHOOK_KEY": KEY, "LRHUB_WEBHOOK_ALLOW_PRIVATE": "true", **extra}


def deliveries(server: ServerProcess, webhook_id: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/v1/webhooks/{webhook_id}/deliveries", timeout=10)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_sigkill_before_during_and_between_attempts_loses_nothing(tmp_path: Path) -> None:
    # Attempt 1 is held open (its server is killed meanwhile), 2 answers 500, 3 answers 200.
    plan = {1: None, 2: 500}
    with running_receiver(lambda _message_id, attempt: plan.get(attempt, 200)) as receiver:
        # A server that only writes the outbox: the event commits, no attempt is made.
        first = start_server(tmp_path, env=webhook_env(LRHUB_WEBHOOK_DELIVER="false"))
        try:
            body = {"url": receiver.url, "events": ["job.completed"]}
            created = httpx.post(f"{first.url}/v1/webhooks", json=body, timeout=10).json()
            webhook_id, secret = created["webhook_id"], created["secret"]
            response = httpx.put(f"{first.url}/v1/jobs/j", json={"spec": PLATEAU}, timeout=10)
            assert response.status_code == 201, response.text
            done = {"status": "completed"}
            assert httpx.patch(f"{first.url}/v1/jobs/j", json=done, timeout=10).status_code == 200
            [pending] = deliveries(first, webhook_id)
            assert pending["state"] == "pending" and pending["attempts"] == []
        finally:
            first.kill()
        # Killed while the receiver holds attempt 1: the claim's lease (2 x 1 s + 2 x 1 s) runs out.
        env = webhook_env(
            LRHUB_WEBHOOK_TIMEOUT="1", LRHUB_LOCK_TIMEOUT="1", LRHUB_WEBHOOK_RETRY_SCHEDULE="0,0,3s"
        )
        second = start_server(tmp_path, env=env)
        try:
            assert receiver.held.wait(30)
        finally:
            second.kill()
        third = start_server(tmp_path, env=env)
        try:
            # Attempt 2 answered 500; the next one is due 3 s later: kill in between.
            poll_until(
                lambda: deliveries(third, webhook_id)[0]["attempts"],
                lambda attempts: len(attempts) == 2 and attempts[1]["finished_at"] is not None,
                30.0,
            )
        finally:
            third.kill()
        fourth = start_server(tmp_path, env=env)
        try:
            [delivery] = poll_until(
                lambda: deliveries(fourth, webhook_id),
                lambda items: items[0]["state"] == "delivered",
                30.0,
            )
        finally:
            fourth.stop()
    attempts = delivery["attempts"]
    assert [attempt["attempt"] for attempt in attempts] == [1, 2, 3]
    assert attempts[0]["finished_at"] is None  # its server died before it knew the outcome
    assert [attempt["status_code"] for attempt in attempts[1:]] == [500, 200]
    assert [item.message_id for item in receiver.received] == [delivery["message_id"]] * 3
    assert {item.verify(secret)["type"] for item in receiver.received} == {"job.completed"}


@pytest.mark.postgres
def test_two_replicas_deliver_each_attempt_once(tmp_path: Path, postgres_url: str) -> None:
    jobs = 40
    # Every message's first attempt fails and its second succeeds: two requests per message.
    plan = {1: 500}
    env = webhook_env(LRHUB_WEBHOOK_RETRY_SCHEDULE="0,0.2s")
    with (
        running_receiver(lambda _message_id, attempt: plan.get(attempt, 204)) as receiver,
        scratch_database(postgres_url) as database_url,
    ):
        servers = [start_server(tmp_path, database_url=database_url, env=env) for _ in range(2)]
        try:
            body = {"url": receiver.url, "events": ["job.failed"]}
            created = httpx.post(f"{servers[0].url}/v1/webhooks", json=body, timeout=10).json()
            with httpx.Client(timeout=10) as client:
                for index in range(jobs):
                    url = f"{servers[index % 2].url}/v1/jobs/j{index}"
                    assert client.put(url, json={"spec": PLATEAU}).status_code == 201
                    assert client.patch(url, json={"status": "failed"}).status_code == 200
            poll_until(
                lambda: deliveries(servers[1], created["webhook_id"]),
                lambda items: len(items) == jobs and all(i["state"] == "delivered" for i in items),
                60.0,
            )
        finally:
            for server in servers:
                server.stop()
    counts = Counter(item.message_id for item in receiver.received)
    assert len(counts) == jobs and set(counts.values()) == {2}
    secret = created["secret"]
    jobs_told = {item.verify(secret)["data"]["job_id"] for item in receiver.received}
    assert jobs_told == {f"j{index}" for index in range(jobs)}


def readme_receiver() -> str:
    """The receiver the README's webhooks section shows, as it is there."""
    section = README.read_text().split("## Webhooks: events pushed", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's webhooks section has no python receiver"
    return found[1]


def test_the_readme_receiver_verifies_a_delivery(tmp_path: Path) -> None:
    port = free_port()
    with running_server(tmp_path, env=webhook_env()) as server:
        body = {"url": f"http://127.0.0.1:{port}/lrhub", "events": ["job.failed"]}
        created = httpx.post(f"{server.url}/v1/webhooks", json=body, timeout=10).json()
        code = re.sub(r'"whsec_[^"]*"', repr(created["secret"]), readme_receiver())
        printed: list[tuple[Any, ...]] = []
        namespace: dict[str, Any] = {"print": lambda *args: printed.append(args)}
        exec(compile(code, "README.md", "exec"), namespace)
        receiver = uvicorn.Server(
            uvicorn.Config(namespace["app"], host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=receiver.run, daemon=True)
        thread.start()
        try:
            poll_until(lambda: receiver.started, bool, 30.0)
            response = httpx.put(f"{server.url}/v1/jobs/j", json={"spec": PLATEAU}, timeout=10)
            assert response.status_code == 201, response.text
            failed = {"status": "failed"}
            assert httpx.patch(f"{server.url}/v1/jobs/j", json=failed, timeout=10).is_success
            poll_until(lambda: printed, lambda seen: seen == [("job.failed", "j")], 30.0)
            [delivery] = deliveries(server, created["webhook_id"])
            assert [attempt["status_code"] for attempt in delivery["attempts"]] == [200]
        finally:
            receiver.should_exit = True
            thread.join(30)
