"""/healthz, /readyz and the Prometheus metrics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from lrhub.service.jobs import store as job_store
from lrhub.service.storage.database import make_engine, read_transaction
from tests.service.conftest import app_client
from tests.service.helpers import DROP, PLATEAU, create_job, decide, observed, problem


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready", "database": "ok"}


def test_readiness_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no-such-directory" / "lrhub.db"
    with app_client(f"sqlite:///{missing_dir}") as client:
        assert client.get("/healthz").status_code == 200
        problem(client.get("/readyz"), 503, "database")
        problem(client.get("/v1/jobs"), 503, "database")
        problem(client.post("/v1/jobs/j/epochs/0", json={}), 503, "database")


def test_an_unexpected_error_is_a_500_problem_without_internals(sqlite_url: str) -> None:
    client = app_client(sqlite_url)

    def broken() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    client.app.add_api_route("/broken", broken)  # type: ignore[attr-defined]
    with client:
        body = problem(client.get("/broken"), 500, "logged")
    assert "secret" not in str(body)


def test_metrics_count_requests_decisions_reductions_and_rates(api: TestClient) -> None:
    create_job(api, "watched", spec=PLATEAU)
    for epoch in range(4):
        decide(api, "watched", epoch, observed(epoch, [1.0, 1.0, 1.0]))
    decide(api, "watched", 3, observed(3, [1.0, 1.0, 1.0]))
    create_job(api, "other", spec=DROP)
    decide(api, "other", 0, {})
    rate = api.get("/v1/jobs/watched").json()["learning_rate"]

    text = api.get("/metrics").text
    assert 'lrhub_decisions_total{outcome="new"} 5.0' in text
    assert 'lrhub_decisions_total{outcome="replayed"} 1.0' in text
    reductions = next(
        line for line in text.splitlines() if line.startswith("lrhub_reductions_total ")
    )
    assert float(reductions.split()[1]) >= 1
    assert f'lrhub_job_learning_rate{{job_id="watched"}} {rate}' in text
    assert (
        'lrhub_http_request_duration_seconds_count{method="POST",'
        'route="/v1/jobs/{job_id}/epochs/{epoch}",status="200"} 6.0'
    ) in text


def test_the_job_rate_series_are_the_most_recently_seen_running_jobs(db_url: str) -> None:
    with app_client(db_url) as client:
        for job_id in ("first", "second", "third"):
            create_job(client, job_id, spec=DROP)
            decide(client, job_id, 0, {})
        decide(client, "first", 1, {})  # seen again: now the most recent
    engine = make_engine(db_url)
    try:
        with read_transaction(engine) as connection:
            rates = job_store.running_job_rates(connection, limit=2)
    finally:
        engine.dispose()
    assert list(rates) == ["first", "third"]
