"""Stale jobs: the one rule (LRHUB_STALE_AFTER, or 5x the median epoch interval), in reads,
lists and the fleet gauges of /metrics."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import true, update

from lrhub.service.clock import as_utc
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import StoredJob
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.storage.database import make_engine, read_transaction, write_transaction
from lrhub.service.storage.tables import jobs as jobs_table
from tests.service.conftest import app_client
from tests.service.helpers import DROP, create_job, decide

MINUTE = timedelta(minutes=1)


def last_report(job: StoredJob) -> datetime:
    return as_utc(job.last_seen_at or job.created_at)


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
            # Its epochs took an hour each.
            connection.execute(
                update(jobs_table)
                .where(jobs_table.c.job_id == "hourly")
                .values(epoch_intervals=[3600.0, 3600.0, 3600.0])
            )
        with read_transaction(engine) as connection:
            jobs = job_store.list_jobs(connection, where=true(), after=None, limit=10)
            by_id = {job.job_id: job for job in jobs}

            def stale_at(later: timedelta) -> dict[str, bool]:
                now = last_report(by_id["quick"]) + later
                return {job.job_id: is_stale(job, now=now, stale_after=15 * MINUTE) for job in jobs}

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
            ("lrhub_jobs", "completed"): 0.0,
            ("lrhub_jobs", "failed"): 0.0,
            ("lrhub_jobs_stale", None): 1.0,
        }
    with app_client(db_url) as client:
        assert client.get("/v1/jobs/silent").json()["stale"] is False  # 15 minutes by default
