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


def _rollout(cohort: str) -> dict[str, object]:
    return {
        "selector": f"cohort={cohort}",
        "change": {"scale": 0.5},
        "canary": 0.5,
        "analysis": {"metric": "val_loss", "mode": "min", "epochs": 3, "max_regression": 0.02},
    }


def test_every_worker_reports_the_rollouts_by_state(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for cohort in ("a", "b"):
                for index in range(4):
                    job = {"spec": DROP, "labels": {"cohort": cohort}}
                    http.put(f"/v1/jobs/{cohort}-{index}", json=job).raise_for_status()
                created = http.post("/v1/rollouts", json=_rollout(cohort))
                assert created.status_code == 201, created.text
            aborted = http.post(f"/v1/rollouts/{created.json()['rollout_id']}/abort")
            assert aborted.status_code == 200, aborted.text
        scrapes = []
        for _ in range(SCRAPES):
            with httpx.Client(timeout=30) as scraper:
                text = scraper.get(f"{server.url}/metrics").text
                scrapes.append(
                    {
                        labels[0][1]: value
                        for labels, value in _samples(text, "lrhub_rollouts").items()
                    }
                )
    expected = {"analyzing": 1.0, "aborted": 1.0, "passed": 0.0, "failed": 0.0, "promoted": 0.0,
                "reverted": 0.0}  # fmt: skip
    assert all(scrape == expected for scrape in scrapes), scrapes


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _decide_on_fresh_connections(url: str, jobs: int) -> None:
    # One connection per request, so the workers share the decisions.
    for index in range(jobs):
        with Client(url) as client:
            client.decide(f"job-{index}", 0, metrics={})


@pytest.mark.parametrize("operator_directory", [False, True], ids=["serve-made", "operator-set"])
def test_every_worker_reports_the_sum_of_all_workers_counters(
    tmp_path: Path, operator_directory: bool
) -> None:
    jobs = 12
    directory = tmp_path / "worker-metrics"
    env = {}
    if operator_directory:
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    with running_server(tmp_path, workers=2, env=env) as server:
        with Client(server.url) as client:
            for index in range(jobs):
                client.put_job(f"job-{index}", spec=DROP)
        _decide_on_fresh_connections(server.url, jobs)
        scrapes = []
        for _ in range(SCRAPES):
            with httpx.Client(timeout=30) as scraper:
                scrapes.append(scraper.get(f"{server.url}/metrics").text)
        if operator_directory:
            # Both workers answered requests: each wrote its own counter file.
            assert len(list(directory.glob("counter_*.db"))) == 2
    # Counted before each answer is sent, so every decision is in every scrape: the sum of both
    # workers' counters, whichever worker answers the scrape.
    for text in scrapes:
        assert _samples(text, "lrhub_decisions_total") == {(("outcome", "new"),): jobs}


def test_the_job_rate_series_are_the_running_jobs_in_the_database(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2) as server, Client(server.url) as client:
        for index in range(3):
            client.put_job(f"job-{index}", spec=DROP)
        _decide_on_fresh_connections(server.url, 3)
        client.patch_job("job-1", JobPatch(status="stopped"))
        client.delete_job("job-1")
        client.patch_job("job-2", JobPatch(status="stopped"))
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert _samples(text, "lrhub_job_learning_rate") == {(("job_id", "job-0"),): 0.1}
