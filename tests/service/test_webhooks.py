"""Webhooks in process, on SQLite and PostgreSQL: subscriptions, events written with what raises
them, deliveries to a real receiver on loopback verified with the Standard Webhooks library,
retries with one `webhook-id`, 410, the SSRF guard and the secret kept encrypted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from lrhub.service.storage.database import make_engine
from lrhub.service.storage.tables import webhooks
from tests.service.conftest import app_client
from tests.service.helpers import PLATEAU, create_job, decide, problem
from tests.support.receiver import Plan, Receiver, always, poll_until, running_receiver

KEY = "a-webhook-key-of-at-least-32-characters"
FAST = {"webhook_key": KEY, "webhook_allow_private": True, "webhook_retry_schedule": "0,0.2s,0.2s"}


Items = list[dict[str, Any]]


def wait_deliveries(api: TestClient, webhook_id: str, done: Callable[[Items], bool]) -> Items:
    """The webhook's deliveries (one page) once `done` holds for them."""

    def fetch() -> Items:
        response = api.get(f"/v1/webhooks/{webhook_id}/deliveries")
        assert response.status_code == 200, response.text
        items: Items = response.json()["items"]
        return items

    return poll_until(fetch, lambda items: bool(items) and done(items), 30.0)


@pytest.fixture
def hooks_api(db_url: str) -> Iterator[TestClient]:
    """The app with webhooks on, loopback targets allowed and a short retry schedule."""
    with app_client(db_url, **FAST) as client:
        yield client


def subscribe(
    api: TestClient, receiver: Receiver, events: list[str], **body: Any
) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": receiver.url, "events": events, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_every_event_reaches_the_receiver_signed_and_only_for_selected_jobs(
    hooks_api: TestClient, db_url: str
) -> None:
    events = ["change", "job.completed", "job.stopped", "plateau.reduced", "decision.stop"]
    with running_receiver() as receiver:
        created = subscribe(hooks_api, receiver, events, selector="team=a")
        secret = created["secret"]
        assert secret.startswith("whsec_")
        create_job(hooks_api, "a-1", spec=PLATEAU, labels={"team": "a"})
        create_job(hooks_api, "b-1", spec=PLATEAU, labels={"team": "b"})
        for job_id in ("a-1", "b-1"):
            # val_loss stalls for one epoch: patience 1 reduces at epoch 2.
            for epoch, metrics in enumerate([{}, {"val_loss": 1.0}, {"val_loss": 1.1}]):
                decide(hooks_api, job_id, epoch, metrics)
            response = hooks_api.patch(f"/v1/jobs/{job_id}", json={"status": "completed"})
            assert response.status_code == 200, response.text
        response = hooks_api.patch("/v1/jobs/a-1", json={"status": "running"})
        assert response.status_code == 200, response.text
        hooks_api.patch("/v1/jobs/a-1", json={"status": "stopped"})
        answer = decide(hooks_api, "a-1", 3, {"val_loss": 0.5})
        assert answer["stop"] is True
        wanted = ["plateau.reduced", "change", "job.completed", "change", "change"]
        wanted += ["job.stopped", "decision.stop"]
        got = receiver.wait_for(lambda seen: len(seen) >= len(wanted))
        verified = [item.verify(secret) for item in got]
        assert sorted(event["type"] for event in verified) == sorted(wanted)
        assert {event["data"]["job_id"] for event in verified} == {"a-1"}
        reduced = next(event for event in verified if event["type"] == "plateau.reduced")
        assert reduced["data"]["epoch"] == 2 and reduced["data"]["reductions"] == 1
        completed = next(event for event in verified if event["type"] == "job.completed")
        assert completed["data"]["before"]["status"] == "running"
        assert completed["data"]["after"]["status"] == "completed"
        deliveries = wait_deliveries(
            hooks_api,
            created["webhook_id"],
            lambda items: all(item["state"] == "delivered" for item in items),
        )
        assert sorted(item["message_id"] for item in deliveries) == sorted(
            item.message_id for item in got
        )
        assert all(item["attempts"][0]["status_code"] == 204 for item in deliveries)
    # The secret is shown once: never listed, and the database holds it only encrypted.
    listed = hooks_api.get("/v1/webhooks").json()["items"]
    assert [item["webhook_id"] for item in listed] == [created["webhook_id"]]
    assert "secret" not in listed[0]
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(webhooks.c.secret)).scalar_one()
    finally:
        engine.dispose()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored


def retrying(failures: int, final: int) -> Plan:
    """Answer 500 to the first `failures` attempts of each message, then `final`."""
    return lambda _message_id, attempt: 500 if attempt <= failures else final


def test_failed_attempts_are_retried_with_one_webhook_id(hooks_api: TestClient) -> None:
    with running_receiver(retrying(2, 200)) as receiver:
        created = subscribe(hooks_api, receiver, ["job.failed"])
        create_job(hooks_api, "j", spec=PLATEAU)
        hooks_api.patch("/v1/jobs/j", json={"status": "failed"})
        got = receiver.wait_for(lambda seen: len(seen) == 3)
        assert len({item.message_id for item in got}) == 1
        assert [item.verify(created["secret"])["type"] for item in got] == ["job.failed"] * 3
        [delivery] = wait_deliveries(
            hooks_api, created["webhook_id"], lambda items: items[0]["state"] == "delivered"
        )
        assert delivery["message_id"] == got[0].message_id
        assert [attempt["status_code"] for attempt in delivery["attempts"]] == [500, 500, 200]


def test_retries_run_out(hooks_api: TestClient) -> None:
    with running_receiver(always(503)) as receiver:
        created = subscribe(hooks_api, receiver, ["job.failed"])
        create_job(hooks_api, "j", spec=PLATEAU)
        hooks_api.patch("/v1/jobs/j", json={"status": "failed"})
        [delivery] = wait_deliveries(
            hooks_api, created["webhook_id"], lambda items: items[0]["state"] == "failed"
        )
        # LRHUB_WEBHOOK_RETRY_SCHEDULE "0,0.2s,0.2s": three attempts, then none.
        assert [attempt["status_code"] for attempt in delivery["attempts"]] == [503] * 3
        assert receiver.count(delivery["message_id"]) == 3


def test_410_disables_the_webhook(hooks_api: TestClient) -> None:
    with running_receiver(always(410)) as receiver:
        created = subscribe(hooks_api, receiver, ["change"])
        create_job(hooks_api, "j", spec=PLATEAU)
        hooks_api.patch("/v1/jobs/j", json={"scale": 0.5})
        wait_deliveries(
            hooks_api, created["webhook_id"], lambda items: items[0]["state"] == "failed"
        )
        [listed] = hooks_api.get("/v1/webhooks").json()["items"]
        assert listed["disabled_at"] is not None and "410" in listed["disabled_reason"]
        hooks_api.patch("/v1/jobs/j", json={"scale": 0.25})
        deliveries = hooks_api.get(f"/v1/webhooks/{created['webhook_id']}/deliveries").json()
        assert len(deliveries["items"]) == 1  # a disabled webhook gets no new message
        assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_targets_are_refused(sqlite_url: str, url: str) -> None:
    with app_client(sqlite_url, webhook_key=KEY) as api:
        response = api.post("/v1/webhooks", json={"url": url, "events": ["change"]})
        body = problem(response, 422, "LRHUB_WEBHOOK_ALLOW_PRIVATE")
        assert body["errors"][0]["loc"] == "body.url"


def test_an_address_turned_private_is_refused_at_delivery(sqlite_url: str) -> None:
    """The guard runs again at every attempt: a target that resolves to a refused address then
    (DNS rebinding) gets nothing, and the attempt says why."""
    with running_receiver() as receiver:
        with app_client(sqlite_url, **FAST, webhook_deliver=False) as creator:
            created = subscribe(creator, receiver, ["change"])
        with app_client(sqlite_url, webhook_key=KEY, webhook_retry_schedule="0") as api:
            create_job(api, "j", spec=PLATEAU)
            api.patch("/v1/jobs/j", json={"scale": 0.5})
            [delivery] = wait_deliveries(
                api, created["webhook_id"], lambda items: items[0]["state"] == "failed"
            )
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] is None and "loopback" in attempt["error"]
        assert receiver.received == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": "ftp://example.com/", "events": ["change"]}, "body.url"),
        ({"url": "http://user:pw@example.com/", "events": ["change"]}, "body.url"),
        ({"url": "http://example.com/", "events": ["job.exploded"]}, "body.events.0"),
        ({"url": "http://example.com/", "events": []}, "body.events"),
        (
            {"url": "http://example.com/", "events": ["change"], "selector": "a in ("},
            "body.selector",
        ),
        ({"url": "http://example.com/\x00", "events": ["change"]}, "body.url"),
    ],
)
def test_bad_subscriptions_name_the_field(db_url: str, body: dict[str, Any], loc: str) -> None:
    with app_client(db_url, webhook_key=KEY) as api:
        response = api.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc


def test_webhooks_need_a_key_and_an_admin(secure_api: TestClient) -> None:
    body = {"url": "http://example.com/", "events": ["change"]}
    problem(secure_api.post("/v1/webhooks", json=body), 401)
    headers = {"Authorization": "Bearer s3cret-admin-token"}
    operator = secure_api.post(
        "/v1/tokens", json={"name": "ops", "role": "operator"}, headers=headers
    )
    as_operator = {"Authorization": f"Bearer {operator.json()['token']}"}
    problem(secure_api.post("/v1/webhooks", json=body, headers=as_operator), 403)
    problem(secure_api.get("/v1/webhooks", headers=as_operator), 403)
    problem(secure_api.post("/v1/webhooks", json=body, headers=headers), 409, "LRHUB_WEBHOOK_KEY")
    missing = "/v1/webhooks/wh_" + "0" * 32
    problem(secure_api.delete(missing, headers=headers), 404)
    problem(secure_api.get(missing + "/deliveries", headers=headers), 404)
    assert secure_api.get("/v1/webhooks/nope/deliveries", headers=headers).status_code == 422


def test_deleting_a_webhook_drops_its_outbox(hooks_api: TestClient) -> None:
    with running_receiver(always(500)) as receiver:
        created = subscribe(hooks_api, receiver, ["change"])
        create_job(hooks_api, "j", spec=PLATEAU)
        hooks_api.patch("/v1/jobs/j", json={"scale": 0.5})
        receiver.wait_for(lambda seen: len(seen) >= 1)
        assert hooks_api.delete(f"/v1/webhooks/{created['webhook_id']}").status_code == 204
        assert hooks_api.get("/v1/webhooks").json()["items"] == []
        path = f"/v1/webhooks/{created['webhook_id']}/deliveries"
        assert hooks_api.get(path).status_code == 404


def test_a_stale_job_is_announced_once_per_silence(db_url: str) -> None:
    with running_receiver() as receiver, app_client(db_url, **FAST, stale_after=1.0) as api:
        created = subscribe(api, receiver, ["job.stale"], selector="team=a")
        create_job(api, "quiet", spec=PLATEAU, labels={"team": "a"})
        create_job(api, "other", spec=PLATEAU, labels={"team": "b"})
        [first] = receiver.wait_for(lambda seen: len(seen) == 1)
        # It reports, then falls silent again: a second spell, a second event.
        decide(api, "quiet", 0, {})
        got = receiver.wait_for(lambda seen: len(seen) == 2)
        # Scans run every 0.25 s: a third request would have come with the second.
        events = [item.verify(created["secret"]) for item in got]
        assert [event["type"] for event in events] == ["job.stale", "job.stale"]
        assert {event["data"]["job_id"] for event in events} == {"quiet"}
        assert events[0]["data"]["silent_since"] < events[1]["data"]["silent_since"]
        assert first.message_id != got[1].message_id
