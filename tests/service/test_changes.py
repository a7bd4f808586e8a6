"""Changes as records (`/v1/changes/{change_id}`): written before the jobs change, linked from
every audit event, exact about which jobs changed even when a bulk change stops midway. Real
app, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from lrhub.service.jobs.selectors import parse_selector
from tests.service.conftest import app_client, migrated
from tests.service.helpers import DROP, create_job, problem
from tests.support.postgres import scratch_database


def _events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/events")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _change(client: TestClient, change_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/changes/{change_id}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _scales(client: TestClient, job_ids: list[str]) -> dict[str, float]:
    return {job_id: client.get(f"/v1/jobs/{job_id}").json()["scale"] for job_id in job_ids}


def test_a_patch_is_a_change_its_event_names(api_on: TestClient) -> None:
    create_job(api_on, "one", spec=DROP)
    patched = api_on.patch("/v1/jobs/one", json={"scale": 0.5, "paused": True})
    assert patched.status_code == 200, patched.text
    event = _events(api_on, "one")[-1]
    assert event["change_id"] is not None
    change = _change(api_on, event["change_id"])
    assert change["job_id"] == "one" and change["selector"] is None
    assert change["body"] == {"scale": 0.5, "paused": True}  # as given, no defaults
    assert change["state"] == "applied" and change["matched"] == 1
    [job] = change["jobs"]
    assert job["outcome"] == "changed"
    assert (job["before"]["scale"], job["after"]["scale"]) == (1.0, 0.5)
    assert job["before"] == event["before"] and job["after"] == event["after"]


def test_a_refused_patch_leaves_no_change(api_on: TestClient) -> None:
    create_job(api_on, "done", spec=DROP)
    api_on.patch("/v1/jobs/done", json={"status": "stopped"})
    before = _events(api_on, "done")
    problem(api_on.patch("/v1/jobs/done", json={"scale": 2.0}), 409, "stopped")
    assert _events(api_on, "done") == before


def test_a_bulk_change_records_every_job_and_pages_them(api_on: TestClient) -> None:
    for index in range(5):
        create_job(api_on, f"b{index}", spec=DROP, labels={"team": "vision"})
    api_on.patch("/v1/jobs/b3", json={"status": "stopped"})  # refused by the single-job rule
    answer = api_on.patch(
        "/v1/jobs", params={"selector": "team=vision, status in (running,stopped)"},
        json={"scale": 2.0},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    change_id = answer.json()["change_id"]
    first = _change(api_on, change_id, limit=2)
    assert first["selector"] == "team=vision,status in (running,stopped)"
    assert parse_selector(first["selector"]) == parse_selector(
        "team=vision,status in (running,stopped)"
    )
    assert first["state"] == "applied" and first["matched"] == 5
    jobs = list(first["jobs"])
    assert first["next_cursor"] is not None
    rest = _change(api_on, change_id, limit=100, cursor=first["next_cursor"])
    assert rest["next_cursor"] is None
    jobs += rest["jobs"]
    assert [job["job_id"] for job in jobs] == [f"b{index}" for index in range(5)]
    outcomes = {job["job_id"]: job["outcome"] for job in jobs}
    assert outcomes == {
        "b0": "changed",
        "b1": "changed",
        "b2": "changed",
        "b3": "refused",
        "b4": "changed",
    }
    assert answer.json()["jobs"] == jobs  # the answer and the record say the same
    for job_id in ("b0", "b4"):
        assert _events(api_on, job_id)[-1]["change_id"] == change_id


def test_a_dry_run_records_nothing(api_on: TestClient) -> None:
    create_job(api_on, "dry", spec=DROP, labels={"team": "vision"})
    answer = api_on.patch(
        "/v1/jobs", params={"selector": "team=vision", "dry_run": "true"}, json={"scale": 3.0}
    )
    assert answer.json()["change_id"] is None
    assert _events(api_on, "dry")[-1]["action"] == "create"


def test_unknown_and_malformed_change_ids(api_on: TestClient) -> None:
    problem(api_on.get("/v1/changes/00000000-0000-0000-0000-000000000000"), 404, "change")
    problem(api_on.get("/v1/changes/not-a-change"), 422, "change_id")


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database."""
    with scratch_database(postgres_url, prefix="lrhub_changes") as url:
        yield migrated(url)


@pytest.mark.postgres
def test_a_bulk_change_stopped_by_a_held_lock_answers_its_change_id(
    postgres_db_url: str,
) -> None:
    with app_client(postgres_db_url, lock_timeout=0.2) as client:
        _stopped_by_a_held_lock(client, postgres_db_url)


def _stopped_by_a_held_lock(client: TestClient, db_url: str) -> None:
    ids = [f"l{index}" for index in range(6)]
    for job_id in ids:
        create_job(client, job_id, spec=DROP, labels={"team": "lock"})
    holder = sa.create_engine(db_url)
    try:
        with holder.connect() as connection, connection.begin():
            # Another session holds job l3's row: the change waits for it past its lock bound.
            connection.execute(sa.text("SELECT 1 FROM jobs WHERE job_id = 'l3' FOR UPDATE"))
            answer = client.patch("/v1/jobs", params={"selector": "team=lock"}, json={"scale": 4.0})
        body = problem(answer, 503, "change")
    finally:
        holder.dispose()
    change = _change(client, body["change_id"])
    assert change["state"] == "interrupted" and change["matched"] == 6
    assert [job["job_id"] for job in change["jobs"]] == ["l0", "l1", "l2"]
    assert _scales(client, ids) == {
        "l0": 4.0,
        "l1": 4.0,
        "l2": 4.0,
        "l3": 1.0,
        "l4": 1.0,
        "l5": 1.0,
    }


def test_a_bulk_change_that_fails_midway_records_exactly_what_changed(
    api_on: TestClient, db_url: str
) -> None:
    ids = [f"f{index}" for index in range(5)]
    for job_id in ids:
        create_job(api_on, job_id, spec=DROP, labels={"team": "fail"})
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as connection:
            # The database refuses the change of job f2 (a trigger standing in for any failure
            # in the middle of a bulk change).
            if db_url.startswith("sqlite"):
                connection.execute(sa.text(
                    "CREATE TRIGGER refuse_f2 BEFORE UPDATE ON jobs WHEN NEW.job_id = 'f2' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END"
                ))  # fmt: skip
            else:
                connection.execute(sa.text(
                    "CREATE FUNCTION refuse_f2() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused by a test trigger'; END $$ LANGUAGE plpgsql"
                ))  # fmt: skip
                connection.execute(sa.text(
                    "CREATE TRIGGER refuse_f2 BEFORE UPDATE ON jobs FOR EACH ROW "
                    "WHEN (NEW.job_id = 'f2') EXECUTE FUNCTION refuse_f2()"
                ))  # fmt: skip
    finally:
        engine.dispose()
    answer = api_on.patch("/v1/jobs", params={"selector": "team=fail"}, json={"scale": 0.25})
    assert answer.status_code == 500
    change_id = _events(api_on, "f1")[-1]["change_id"]
    change = _change(api_on, change_id)
    assert change["state"] == "interrupted"
    assert [job["job_id"] for job in change["jobs"]] == ["f0", "f1"]
    assert _scales(api_on, ids) == {"f0": 0.25, "f1": 0.25, "f2": 1.0, "f3": 1.0, "f4": 1.0}


def test_concurrent_single_job_changes_each_get_their_own_record(api_on: TestClient) -> None:
    create_job(api_on, "busy", spec=DROP)
    scales = [0.5, 1.5, 2.5, 3.5]
    threads = [
        threading.Thread(target=lambda s=s: api_on.patch("/v1/jobs/busy", json={"scale": s}))
        for s in scales
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = _events(api_on, "busy")[1:]
    assert len(events) == len(scales)
    changes = [_change(api_on, event["change_id"]) for event in events]
    assert len({change["change_id"] for change in changes}) == len(scales)
    # Each record's before is the previous record's after: the records follow the job.
    for earlier, later in itertools.pairwise(changes):
        assert later["jobs"][0]["before"] == earlier["jobs"][0]["after"]
