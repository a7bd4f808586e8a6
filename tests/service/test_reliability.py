"""Reliability against hostile or unlucky callers (SQLite and PostgreSQL): retention racing a
decision, bytes the database refuses in selectors, stream positions, token-bound job access,
jobs of a deleted schedule, and retried bulk changes."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response

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
    # Autocommit: each poll its own transaction, which reads pg_stat_activity afresh (a
    # transaction keeps the first snapshot of it).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
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
    purger = make_engine(db_url, lock_timeout=LOCK_WAIT_DEADLINE_SECONDS)
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
        answer = api_on.get("/v1/stream", headers={b"Last-Event-ID": header})
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


def _hold_the_write_lock_once_jobs_changed(
    db_path: str, held: threading.Event, release: threading.Event
) -> None:
    """SQLite: once the change recorded a few jobs, take the database's write lock between two
    of its job transactions and hold it until `release`."""
    connection = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE_SECONDS
    try:
        while connection.execute("SELECT count(*) FROM change_jobs").fetchone()[0] < 3:
            assert time.monotonic() < deadline, "the change never started"
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:
                assert time.monotonic() < deadline, "never got between two job transactions"
        held.set()
        release.wait(LOCK_WAIT_DEADLINE_SECONDS)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_a_retried_bulk_change_resumes_the_interrupted_one(db_url: str) -> None:
    with app_client(db_url, lock_timeout=0.2) as api:
        ids = [f"r{index:03d}" for index in range(200)]
        for job_id in ids:
            create_job(api, job_id, spec=DROP, labels={"team": "retry"})
        key = {"Idempotency-Key": "bulk-scale-4"}
        selected = {"selector": "team=retry"}

        def request(body: dict[str, float] | None = None) -> Response:
            return api.patch("/v1/jobs", params=selected, json=body or {"scale": 4.0}, headers=key)

        if db_url.startswith("sqlite"):
            held, release = threading.Event(), threading.Event()
            path = sa.make_url(db_url).database
            assert path is not None
            holder = threading.Thread(
                target=_hold_the_write_lock_once_jobs_changed, args=(path, held, release)
            )
            holder.start()
            try:
                answer = request()
            finally:
                release.set()
                holder.join()
            assert held.is_set()
        else:
            engine = make_engine(db_url)
            try:
                with engine.connect() as connection, connection.begin():
                    # Another session holds one job's row past the change's lock bound.
                    connection.execute(
                        sa.text("SELECT 1 FROM jobs WHERE job_id = 'r100' FOR UPDATE")
                    )
                    answer = request()
            finally:
                engine.dispose()
        change_id = problem(answer, 503, "change")["change_id"]
        first = api.get(f"/v1/changes/{change_id}", params={"limit": 500}).json()
        # "applying" when the held lock kept it from being marked interrupted too.
        assert first["state"] in ("interrupted", "applying")
        assert 0 < len(first["jobs"]) < len(ids)

        retried = request()
        assert retried.status_code == 200, retried.text
        assert retried.json()["change_id"] == change_id
        assert [job["job_id"] for job in retried.json()["jobs"]] == ids
        record = api.get(f"/v1/changes/{change_id}", params={"limit": 500}).json()
        assert record["state"] == "applied" and len(record["jobs"]) == len(ids)
        # Every job changed exactly once, by this one change.
        for job_id in (ids[0], ids[-1]):
            events = api.get(f"/v1/jobs/{job_id}/events").json()["items"]
            assert [event["change_id"] for event in events[1:]] == [change_id]
        assert {api.get(f"/v1/jobs/{job_id}").json()["scale"] for job_id in ids} == {4.0}
        # Replaying an applied change answers it again and changes nothing more.
        create_job(api, "r999", spec=DROP, labels={"team": "retry"})
        again = request()
        assert again.json()["change_id"] == change_id
        assert api.get("/v1/jobs/r999").json()["scale"] == 1.0
        # The key belongs to that change: another body with it is refused.
        problem(request({"scale": 2.0}), 422, "idempotency")


RETRIES = 4


def test_concurrent_retries_with_one_idempotency_key_apply_the_change_once(db_url: str) -> None:
    """Clients that time out and retry at once (here four, each on its own app, as on four
    replicas) all get the one change's answer, and every job is changed exactly once."""
    ids = [f"c{index:02d}" for index in range(60)]
    with app_client(db_url) as api:
        for job_id in ids:
            create_job(api, job_id, spec=DROP, labels={"team": "race"})
    start = threading.Barrier(RETRIES)
    answers: list[Response] = []

    def retry() -> None:
        with app_client(db_url) as own:
            start.wait()
            answers.append(
                own.patch(
                    "/v1/jobs",
                    params={"selector": "team=race"},
                    json={"scale": 3.0},
                    headers={"Idempotency-Key": "same-key"},
                )
            )

    threads = [threading.Thread(target=retry) for _ in range(RETRIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200] * RETRIES, [
        answer.text for answer in answers
    ]
    change_ids = {answer.json()["change_id"] for answer in answers}
    assert len(change_ids) == 1
    for answer in answers:
        assert [job["job_id"] for job in answer.json()["jobs"]] == ids
    with app_client(db_url) as api:
        (change_id,) = change_ids
        record = api.get(f"/v1/changes/{change_id}", params={"limit": 500}).json()
        assert record["state"] == "applied" and len(record["jobs"]) == len(ids)
        assert {job["outcome"] for job in record["jobs"]} == {"changed"}
        for job_id in ids:
            events = api.get(f"/v1/jobs/{job_id}/events").json()["items"]
            assert [event["change_id"] for event in events[1:]] == [change_id], job_id
            assert api.get(f"/v1/jobs/{job_id}").json()["scale"] == 3.0
