"""A job's life through the real app on SQLite and PostgreSQL: each epoch's end metrics, how
training ends (completed, failed, stopped, resumed), deletion, retention and staleness."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from lrhub.service.clock import utc_now
from lrhub.service.fields import JobStatus
from lrhub.service.jobs.model import Follow, StoredJob
from lrhub.service.jobs.service import purge_finished_jobs
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.storage.database import make_engine
from lrhub.service.storage.tables import jobs
from tests.service.conftest import ADMIN_HEADERS, app_client
from tests.service.helpers import PLATEAU, create_job, decide, observed, problem, put_schedule


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def decide_as(client: TestClient, job_id: str, epoch: int, metrics: dict[str, float] | None,
              headers: dict[str, str]) -> dict[str, object]:  # fmt: skip
    return decide(client, job_id, epoch, metrics, None, **headers)


def report_end(
    client: TestClient, job_id: str, epoch: int, metrics: dict[str, float], **headers: str
) -> dict[str, object]:
    response = client.put(
        f"/v1/jobs/{job_id}/epochs/{epoch}/metrics", json={"metrics": metrics}, headers=headers
    )
    assert response.status_code == 200, response.text
    entry: dict[str, object] = response.json()
    return entry


def history(client: TestClient, job_id: str) -> list[dict[str, object]]:
    response = client.get(f"/v1/jobs/{job_id}/epochs", params={"superseded": "false"})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def set_job_times(db_url: str, job_id: str, *, ago: timedelta, **values: object) -> None:
    """Age a job as if its last change and report were `ago` in the past."""
    engine = make_engine(db_url)
    moment = utc_now() - ago
    try:
        with engine.begin() as connection:
            connection.execute(
                update(jobs)
                .where(jobs.c.job_id == job_id)
                .values(updated_at=moment, last_seen_at=moment, **values)
            )
    finally:
        engine.dispose()


def test_each_epoch_shows_its_rate_and_the_metrics_observed_at_its_end(api_on: TestClient) -> None:
    create_job(api_on, "ends", spec=PLATEAU)
    answers = [decide(api_on, "ends", epoch, observed(epoch)) for epoch in range(4)]
    last = report_end(api_on, "ends", 3, observed(4))

    rows = history(api_on, "ends")
    assert [row["learning_rate"] for row in rows] == [a["learning_rate"] for a in answers]
    assert [row["metrics"] for row in rows] == [observed(epoch) for epoch in range(1, 5)]
    assert last == rows[-1]
    text = api_on.get("/v1/jobs/ends/epochs", params={"format": "csv"}).text
    csv_rows = list(csv.DictReader(io.StringIO(text)))
    # A column per metric: this job reports val_loss only.
    assert [{"val_loss": float(row["val_loss"])} for row in csv_rows] == [
        row["metrics"] for row in rows
    ]
    assert [float(row["learning_rate"]) for row in csv_rows] == [r["learning_rate"] for r in rows]
    assert report_end(api_on, "ends", 3, observed(4)) == last, "the same report again: no change"


def test_an_end_report_that_contradicts_the_next_decision_or_has_no_epoch_is_refused(
    api_on: TestClient,
) -> None:
    create_job(api_on, "contradicted", spec=PLATEAU)
    for epoch in range(3):
        decide(api_on, "contradicted", epoch, observed(epoch))
    before = history(api_on, "contradicted")

    put = api_on.put("/v1/jobs/contradicted/epochs/1/metrics", json={"metrics": {"val_loss": 9.0}})
    problem(put, 409, "epoch 2", "already decided")
    put = api_on.put("/v1/jobs/contradicted/epochs/7/metrics", json={"metrics": {"val_loss": 1.0}})
    problem(put, 409, "epoch 7", "no decision")
    put = api_on.put("/v1/jobs/unknown/epochs/0/metrics", json={"metrics": {}})
    problem(put, 404, "unknown")
    put = api_on.put("/v1/jobs/contradicted/epochs/2/metrics", json={"metrics": {"x": "y"}})
    problem(put, 422, "metrics")
    assert history(api_on, "contradicted") == before


def test_unknown_metrics_after_an_end_report_decide_as_if_they_had_been_sent(
    api_on: TestClient,
) -> None:
    # A process that reported epoch 3's end and died; its successor resumes at epoch 4 without
    # the logs: the service decides from the reported metrics, as an uninterrupted run would.
    for job in ("uninterrupted", "resumed"):
        create_job(api_on, job, spec=PLATEAU)
        for epoch in range(4):
            decide(api_on, job, epoch, observed(epoch))
    report_end(api_on, "resumed", 3, observed(4))

    resumed = decide(api_on, "resumed", 4, None)
    uninterrupted = decide(api_on, "uninterrupted", 4, observed(4))
    assert (resumed["learning_rate"], resumed["state"]) == (
        uninterrupted["learning_rate"],
        uninterrupted["state"],
    )
    assert history(api_on, "resumed")[-1]["input_metrics"] == observed(4)


def test_a_job_token_reports_its_job_completed_and_a_new_epoch_reopens_it(
    secure_api_on: TestClient,
) -> None:
    api = secure_api_on
    created = api.put("/v1/jobs/ending", json={"spec": PLATEAU}, headers=ADMIN_HEADERS).json()
    other = api.put("/v1/jobs/other", json={"spec": PLATEAU}, headers=ADMIN_HEADERS).json()
    token = bearer(created["token"])
    decide_as(api, "ending", 0, {}, token)

    done = api.patch("/v1/jobs/ending", json={"status": "completed"}, headers=token)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed" and done.json()["last_seen_at"] is not None
    problem(api.patch("/v1/jobs/ending", json={"scale": 2}, headers=token), 403, "admin")
    problem(api.patch("/v1/jobs/ending", json={"status": "stopped"}, headers=token), 403, "admin")
    problem(api.patch("/v1/jobs/other", json={"status": "failed"}, headers=token), 403, "another")
    assert api.get("/v1/jobs/other", headers=ADMIN_HEADERS).json()["status"] == other["status"]

    decide_as(api, "ending", 1, {"val_loss": 1.0}, token)  # a continued fit
    assert api.get("/v1/jobs/ending", headers=token).json()["status"] == "running"
    failed = api.patch("/v1/jobs/ending", json={"status": "failed"}, headers=token)
    assert failed.json()["status"] == "failed"
    events = api.get("/v1/jobs/ending/events", headers=ADMIN_HEADERS).json()["items"]
    assert [(e["action"], e["after"]["status"]) for e in events] == [
        ("create", "running"),
        ("status", "completed"),
        ("status", "running"),
        ("status", "failed"),
    ]
    assert events[1]["actor"] == "job:ending"


def test_a_stopped_job_stays_stopped_when_it_reports_its_end_until_an_admin_resumes_it(
    api_on: TestClient,
) -> None:
    create_job(api_on, "halted", spec=PLATEAU)
    decide(api_on, "halted", 0, {})
    api_on.patch("/v1/jobs/halted", json={"status": "stopped"})
    assert decide(api_on, "halted", 1, {"val_loss": 1.0})["stop"] is True

    reported = api_on.patch("/v1/jobs/halted", json={"status": "completed"})
    assert reported.status_code == 200 and reported.json()["status"] == "stopped"
    problem(api_on.patch("/v1/jobs/halted", json={"scale": 2.0}), 409, "stopped", "resumed")

    resumed = api_on.patch("/v1/jobs/halted", json={"status": "running"})
    assert resumed.json()["status"] == "running"
    assert decide(api_on, "halted", 2, {"val_loss": 0.9})["stop"] is False


def test_deleting_a_job_removes_it_with_its_history_and_its_token(
    secure_api_on: TestClient,
) -> None:
    api = secure_api_on
    created = api.put("/v1/jobs/doomed", json={"spec": PLATEAU}, headers=ADMIN_HEADERS).json()
    token = bearer(created["token"])
    decide_as(api, "doomed", 0, {}, token)

    problem(api.delete("/v1/jobs/doomed", headers=ADMIN_HEADERS), 409, "running")
    problem(api.delete("/v1/jobs/doomed", headers=token), 403, "admin")
    api.patch("/v1/jobs/doomed", json={"status": "completed"}, headers=token)
    stale_etag = {**ADMIN_HEADERS, "If-Match": '"doomed#0"'}
    problem(api.delete("/v1/jobs/doomed", headers=stale_etag), 412)

    assert api.delete("/v1/jobs/doomed", headers=ADMIN_HEADERS).status_code == 204
    problem(api.get("/v1/jobs/doomed", headers=ADMIN_HEADERS), 404, "doomed")
    problem(api.get("/v1/jobs/doomed/epochs", headers=ADMIN_HEADERS), 404, "doomed")
    problem(api.post("/v1/jobs/doomed/epochs/1", json={}, headers=token), 401)
    problem(api.delete("/v1/jobs/doomed", headers=ADMIN_HEADERS), 404, "doomed")
    again = api.put("/v1/jobs/doomed", json={"spec": PLATEAU}, headers=ADMIN_HEADERS)
    assert again.status_code == 201 and again.json()["last_epoch"] is None


def test_retention_purges_only_finished_jobs_idle_for_longer(db_url: str) -> None:
    with app_client(db_url) as api:
        for job in ("old-done", "old-stopped", "old-failed", "old-running", "new-done"):
            create_job(api, job, spec=PLATEAU)
            decide(api, job, 0, {})
        for job, status in [("old-done", "completed"), ("old-stopped", "stopped"),
                            ("old-failed", "failed"), ("new-done", "completed")]:  # fmt: skip
            assert api.patch(f"/v1/jobs/{job}", json={"status": status}).status_code == 200
    for job in ("old-done", "old-stopped", "old-failed", "old-running"):
        set_job_times(db_url, job, ago=timedelta(days=31))

    engine = make_engine(db_url)
    try:
        purged = purge_finished_jobs(engine, older_than=timedelta(days=30))
    finally:
        engine.dispose()
    assert sorted(purged) == ["old-done", "old-failed", "old-stopped"]
    with app_client(db_url) as api:
        remaining = [job["job_id"] for job in api.get("/v1/jobs").json()["items"]]
    assert remaining == ["new-done", "old-running"]


def test_a_server_with_a_retention_purges_when_it_starts(db_url: str) -> None:
    with app_client(db_url) as api:
        create_job(api, "forgotten", spec=PLATEAU)
        api.patch("/v1/jobs/forgotten", json={"status": "completed"})
    set_job_times(db_url, "forgotten", ago=timedelta(days=3))

    with app_client(db_url, retention_days=7) as api:
        assert api.get("/v1/jobs/forgotten").status_code == 200, "3 days < 7: kept"
    with app_client(db_url, retention_days=2) as api:
        problem(api.get("/v1/jobs/forgotten"), 404, "forgotten")


def test_a_running_job_silent_for_too_long_is_stale_in_reads_and_lists(db_url: str) -> None:
    with app_client(db_url) as api:
        for job in ("silent", "slow-epochs", "reporting", "finished"):
            create_job(api, job, spec=PLATEAU)
            decide(api, job, 0, {})
        api.patch("/v1/jobs/finished", json={"status": "completed"})
    set_job_times(db_url, "silent", ago=timedelta(minutes=20))
    set_job_times(db_url, "finished", ago=timedelta(minutes=20))
    # Hour-long epochs: 5x their median is the threshold, not the 15 minutes.
    set_job_times(db_url, "slow-epochs", ago=timedelta(hours=2), epoch_intervals=[3600.0] * 3)

    with app_client(db_url) as api:
        listed = {job["job_id"]: job["stale"] for job in api.get("/v1/jobs").json()["items"]}
        assert listed == {
            "silent": True,
            "slow-epochs": False,
            "reporting": False,
            "finished": False,
        }
        assert api.get("/v1/jobs/silent").json()["stale"] is True
        decide(api, "silent", 1, {"val_loss": 1.0})
        assert api.get("/v1/jobs/silent").json()["stale"] is False, "it reported again"
    with app_client(db_url, stale_after=3600) as api:
        assert api.get("/v1/jobs/silent").json()["stale"] is False


def test_consecutive_epochs_record_their_intervals_for_the_median(api_on: TestClient) -> None:
    create_job(api_on, "timed", spec=PLATEAU)
    for epoch in range(4):
        decide(api_on, "timed", epoch, observed(epoch))
    decide(api_on, "timed", 2, observed(2))  # a replay: no interval
    job = api_on.get("/v1/jobs/timed").json()
    assert job["last_seen_at"] is not None and job["stale"] is False


def test_stale_is_measured_from_creation_for_a_job_that_never_reported() -> None:
    now = utc_now()
    job = StoredJob(
        job_id="j", token_hash="h", status=JobStatus.RUNNING, schedule_name=None,
        schedule_version=None, follow=Follow.PINNED, spec="{}", scale=1.0,
        override=None, paused=False, held_rate=None, labels={}, clock_origin=0, last_epoch=None,
        learning_rate=None, state=None, revision=0, created_at=now - timedelta(minutes=16),
        updated_at=now, row_version=0, created_by=None, last_seen_at=None, epoch_intervals=None,
    )  # fmt: skip
    fifteen = timedelta(minutes=15)
    assert is_stale(job, now=now, stale_after=fifteen)
    assert not is_stale(job, now=now, stale_after=timedelta(minutes=17))
    intervals = [60.0, 600.0, 240.0]  # median 240 s: 5x = 20 minutes > 15
    assert not is_stale(
        replace(job, epoch_intervals=intervals, last_seen_at=now - timedelta(minutes=19)),
        now=now,
        stale_after=fifteen,
    )
    assert is_stale(
        replace(job, epoch_intervals=intervals, last_seen_at=now - timedelta(minutes=21)),
        now=now,
        stale_after=fifteen,
    )


def test_a_schedule_whose_jobs_are_all_finished_can_be_deleted(api_on: TestClient) -> None:
    put_schedule(api_on, "shared", PLATEAU)
    create_job(api_on, "first", schedule="shared")
    create_job(api_on, "second", schedule="shared")
    api_on.patch("/v1/jobs/first", json={"status": "completed"})
    problem(api_on.delete("/v1/schedules/shared"), 409, "shared")

    api_on.patch("/v1/jobs/second", json={"status": "failed"})
    assert api_on.delete("/v1/schedules/shared").status_code == 204
