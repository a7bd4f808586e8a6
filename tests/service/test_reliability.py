"""Reliability against hostile or unlucky callers (SQLite and PostgreSQL): retention racing a
decision, bytes the database refuses in selectors, stream positions, token-bound job access,
jobs of a deleted schedule, and retried bulk changes."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from lrhub.service.jobs.service import purge_finished_jobs
from lrhub.service.storage.database import make_engine
from tests.service.conftest import ADMIN_HEADERS, app_client
from tests.service.helpers import DROP, PLATEAU, create_job, decide, problem, put_schedule
from tests.service.test_job_lifecycle import set_job_times
from tests.service.test_tokens import bearer, new_job, new_token

LOCK_WAIT_DEADLINE_SECONDS = 30.0


def _wait_for_a_lock_wait(engine: sa.Engine) -> None:
    """PostgreSQL: poll until some session of this database waits for a row lock."""
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE_SECONDS
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with engine.connect() as connection:
        while not connection.execute(query).scalar_one():
            assert time.monotonic() < deadline, "the purge never waited for the job's row"
            time.sleep(0.01)  # polling interval, not a race guard


def test_retention_keeps_a_job_reopened_after_the_purge_selected_it(db_url: str) -> None:
    with app_client(db_url) as api:
        create_job(api, "reopened", spec=PLATEAU)
        decide(api, "reopened", 0, {})
        assert api.patch("/v1/jobs/reopened", json={"status": "completed"}).status_code == 200
    set_job_times(db_url, "reopened", ago=timedelta(days=31))
    holder = make_engine(db_url)
    purger = make_engine(db_url)
    purged: list[list[str]] = []
    try:
        with holder.connect() as connection:
            # Another replica is deciding for the job: it holds the row (the SQLite write
            # lock) while it reopens it, and commits after the purge selected the job.
            transaction = connection.begin()
            if db_url.startswith("sqlite"):
                connection.exec_driver_sql("UPDATE jobs SET revision = revision")
            else:
                connection.execute(sa.text("SELECT 1 FROM jobs FOR UPDATE"))
            thread = threading.Thread(
                target=lambda: purged.append(
                    purge_finished_jobs(purger, older_than=timedelta(days=30))
                )
            )
            thread.start()
            if not db_url.startswith("sqlite"):
                _wait_for_a_lock_wait(holder)
            connection.execute(
                sa.text(
                    "UPDATE jobs SET status = 'running', last_seen_at = CURRENT_TIMESTAMP, "
                    "updated_at = CURRENT_TIMESTAMP"
                )
            )
            transaction.commit()
            thread.join(timeout=LOCK_WAIT_DEADLINE_SECONDS)
    finally:
        holder.dispose()
        purger.dispose()
    assert purged == [[]]
    with app_client(db_url) as api:
        assert api.get("/v1/jobs/reopened").json()["status"] == "running"


def test_a_nul_in_a_selector_is_refused_everywhere(api_on: TestClient) -> None:
    create_job(api_on, "labelled", spec=DROP, labels={"team": "a"})
    for selector in ("team=a\x00b", "team in (a,\x00)", "team!=\x00"):
        problem(api_on.get("/v1/jobs", params={"selector": selector}), 422, "NUL")
        problem(
            api_on.patch("/v1/jobs", params={"selector": selector}, json={"scale": 2.0}),
            422,
            "NUL",
        )
        problem(api_on.get("/v1/stream", params={"selector": selector}), 422, "NUL")
    problem(api_on.get("/v1/jobs", params={"label": "team=\x00"}), 422, "NUL")


def test_stream_positions_must_be_ascii_digits_up_to_the_newest_event(api_on: TestClient) -> None:
    create_job(api_on, "streamed", spec=DROP)
    decide(api_on, "streamed", 0, {})
    # Latin-1 bytes as sent on the wire: "\xb2" reads as "²", a digit to str.isdigit.
    for header in (
        b"\xb2",
        b"\xb9\xb2",
        "١٢".encode(),
        b"1e3",
        b"-1",
        b"",
        b"18446744073709551616",
    ):
        answer = api_on.get("/v1/stream", headers={"Last-Event-ID": header})
        problem(answer, 422, "event id")
    # Two events so far (the creation and the decision): 3 is no id this stream sent.
    problem(api_on.get("/v1/stream", headers={"Last-Event-ID": "3"}), 422, "newest")
    problem(api_on.get("/v1/stream", params={"after": 3}), 422, "newest")
    problem(api_on.get("/v1/jobs/streamed/events", params={"cursor": "²"}), 422, "cursor")


def test_a_new_token_with_a_revoked_ones_name_reaches_none_of_its_jobs(
    secure_api_on: TestClient,
) -> None:
    api = secure_api_on
    first = bearer(new_token(api, "trainer", "creator"))
    new_job(api, "mine", headers=first)
    assert api.get("/v1/jobs/mine", headers=first).status_code == 200
    assert api.delete("/v1/tokens/trainer", headers=ADMIN_HEADERS).status_code == 204
    second = bearer(new_token(api, "trainer", "creator"))
    problem(api.get("/v1/jobs/mine", headers=second), 403, "created")
    problem(api.post("/v1/jobs/mine/epochs/0", json={}, headers=second), 403, "created")
    problem(api.put("/v1/jobs/mine", json={"spec": DROP}, headers=second), 403, "created")
    problem(api.get("/v1/stream", params={"job": "mine"}, headers=second), 403, "created")
    problem(api.patch("/v1/jobs/mine", json={"status": "completed"}, headers=second), 403)
    new_job(api, "theirs", headers=second)
    assert api.get("/v1/jobs/theirs", headers=second).status_code == 200


def test_a_finished_job_of_a_deleted_schedule_keeps_its_spec_and_never_follows_the_name(
    api_on: TestClient,
) -> None:
    put_schedule(api_on, "shared", DROP)
    create_job(api_on, "done", schedule="shared")
    first = decide(api_on, "done", 0, {})["learning_rate"]
    assert api_on.patch("/v1/jobs/done", json={"status": "completed"}).status_code == 200
    assert api_on.delete("/v1/schedules/shared").status_code == 204
    detached = api_on.get("/v1/jobs/done").json()
    assert detached["schedule"] == {"name": None, "version": None, "follow": "pinned"}
    assert detached["spec"]["initial_learning_rate"] == DROP["initial_learning_rate"]
    event = api_on.get("/v1/jobs/done/events").json()["items"][-1]
    assert event["before"]["schedule"]["name"] == "shared"
    assert event["after"]["schedule"]["name"] is None
    # A new schedule of the same name is a new schedule: the old job does not follow it.
    put_schedule(api_on, "shared", {**DROP, "initial_learning_rate": 0.9})
    reopened = decide(api_on, "done", 1, {})
    assert reopened["learning_rate"] == first
    job = api_on.get("/v1/jobs/done").json()
    assert job["status"] == "running" and job["schedule"]["name"] is None
    # A running job still holds its schedule: deleting it is refused.
    create_job(api_on, "busy", schedule="shared")
    problem(api_on.delete("/v1/schedules/shared"), 409, "busy")
    assert api_on.get("/v1/jobs/busy").json()["schedule"]["name"] == "shared"
