"""`/metrics` reports the whole fleet's jobs from every worker process of a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lrhub.client import Client, JobPatch
from tests.support.server import running_server

pytestmark = pytest.mark.slow

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
SCRAPES = 20


def _fleet_gauges(text: str) -> dict[str, float]:
    return {
        sample.labels.get("status", "stale"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("lrhub_jobs", "lrhub_jobs_stale")
    }


def test_every_worker_reports_the_same_fleet(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2) as server:
        with Client(server.url) as client:
            for index in range(5):
                client.put_job(f"job-{index}", spec=DROP)
            client.patch_job("job-0", JobPatch(status="stopped"))
        # A new connection per scrape, so the workers take turns answering.
        scrapes = []
        for _ in range(SCRAPES):
            with httpx.Client(timeout=30) as scraper:
                scrapes.append(_fleet_gauges(scraper.get(f"{server.url}/metrics").text))
    expected = {"running": 4.0, "stopped": 1.0, "completed": 0.0, "failed": 0.0, "stale": 0.0}
    assert all(scrape == expected for scrape in scrapes), scrapes
