"""Stale jobs: the one rule (LRHUB_STALE_AFTER, or 5x the median epoch interval), in reads,
lists and the fleet gauges of /metrics."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import true, update

from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.stale import last_report, read_jobs
from lrhub.service.storage.database import make_engine, read_transaction, write_transaction
from lrhub.service.storage.tables import decisions
from tests.service.conftest import app_client
from tests.service.helpers import DROP, create_job, decide

MINUTE = timedelta(minutes=1)


def test_the_rule_uses_the_larger_of_the_setting_and_five_median_intervals(db_url: str) -> None:
    with app_client(db_url) as client:
        create_job(client, "quick", spec=DROP)
        create_job(client, "hourly", spec=DROP)
        create_job(client, "never-reported", spec=DROP)
        create_job(client, "stopped", spec=DROP)
        for epoch in range(4):
            decide(client, "quick", epoch, {})
            decide(client, "hourly", epoch, {})
        assert client.patch("/v1/jobs/stopped", json={"status": "stopped"}).status_code == 200
    engine = make_engine(db_url)
    try:
        with write_transaction(engine) as connection:
            hourly = job_store.get_job(connection, "hourly")
            assert hourly is not None and hourly.last_seen_at is not None
            # Its epochs took an hour each: decided 3h, 2h, 1h and 0h before its last report.
            for back, epoch in zip(range(3, -1, -1), range(4), strict=True):
                connection.execute(
                    update(decisions)
                    .where(decisions.c.job_id == "hourly", decisions.c.epoch == epoch)
                    .values(decided_at=last_report(hourly) - back * 60 * MINUTE)
                )
        with read_transaction(engine) as connection:
            jobs = job_store.list_jobs(connection, where=true(), after=None, limit=10)
            by_id = {job.job_id: job for job in jobs}

            def stale_at(later: timedelta) -> dict[str, bool]:
                now = last_report(by_id["quick"]) + later
                reads = read_jobs(connection, jobs, 15 * MINUTE, now)
                return {read.job.job_id: read.stale for read in reads}

            assert stale_at(10 * MINUTE) == dict.fromkeys(by_id, False)
            assert stale_at(20 * MINUTE) == {
                "quick": True,
                "hourly": False,  # 5 x its 1 h median: stale after 5 h
                "never-reported": True,  # silent since its creation
                "stopped": False,  # only running jobs are stale
            }
            assert stale_at(6 * 60 * MINUTE)["hourly"] is True
    finally:
        engine.dispose()


def test_reads_lists_and_metrics_show_stale_jobs(db_url: str) -> None:
    with app_client(db_url, stale_after=timedelta(microseconds=1)) as client:
        create_job(client, "silent", spec=DROP, labels={"team": "vision"})
        create_job(client, "done", spec=DROP)
        assert client.patch("/v1/jobs/done", json={"status": "stopped"}).status_code == 200
        assert client.get("/v1/jobs/silent").json()["stale"] is True
        listed = client.get("/v1/jobs").json()["items"]
        assert {job["job_id"]: job["stale"] for job in listed} == {"silent": True, "done": False}
        samples = {
            (sample.name, sample.labels.get("status")): sample.value
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples
            if sample.name.startswith("lrhub_jobs")
        }
        assert samples == {
            ("lrhub_jobs", "running"): 1.0,
            ("lrhub_jobs", "stopped"): 1.0,
            ("lrhub_jobs_stale", None): 1.0,
        }
    with app_client(db_url) as client:
        assert client.get("/v1/jobs/silent").json()["stale"] is False  # 15 minutes by default
