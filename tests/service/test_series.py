"""`GET /v1/jobs/{job_id}/series`: a job's curve as columns, the decisions in force only, paged by
epoch and bounded in bytes. Real app, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from lrhub.service.clock import iso_text
from lrhub.service.decisions import schemas
from lrhub.service.decisions import service as decision_service
from lrhub.service.decisions.model import SeriesPoint
from lrhub.service.decisions.schemas import Series, series_json
from lrhub.service.fields import MAX_METRICS
from tests.service.conftest import app_client
from tests.service.helpers import LOSSES, PLATEAU, all_pages, create_job, decide, observed


def series_pages(client: TestClient, job_id: str, **params: str) -> list[dict[str, Any]]:
    """Every page of the job's series, following the cursors."""
    return all_pages(client, f"/v1/jobs/{job_id}/series", Series, **params)


def joined(pages: list[dict[str, Any]], column: str) -> list[Any]:
    return [value for page in pages for value in page[column]]


def in_force_history(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/epochs", params={"superseded": "false"})
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_series_is_the_history_in_force_column_by_column(api_on: TestClient) -> None:
    create_job(api_on, "curve", spec=PLATEAU)
    for epoch in range(8):
        decide(api_on, "curve", epoch, observed(epoch))
    decide(api_on, "curve", 5, {"val_loss": 9.0})  # a rewind: epochs 5..7 superseded
    decide(api_on, "curve", 6, {"val_loss": 9.5, "accuracy": 0.5})
    [page] = series_pages(api_on, "curve")
    history = in_force_history(api_on, "curve")
    assert [item["epoch"] for item in history] == list(range(7))
    assert page["epochs"] == [item["epoch"] for item in history]
    assert page["learning_rates"] == [item["learning_rate"] for item in history]
    assert page["reasons"] == [item["reason"] for item in history]
    assert page["metrics"] == [item["metrics"] for item in history]
    assert page["metrics"][5] == {"val_loss": 9.5, "accuracy": 0.5}  # reported with epoch 6
    assert page["metrics"][6] is None  # the last epoch has not ended
    assert page["decided_at"] == [item["decided_at"] for item in history]  # the same text
    assert page["next_cursor"] is None


def test_pages_of_limit_epochs_follow_each_other_by_epoch(
    api_on: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads of 4 rows, so that pages of 7 take two reads and the last page a partial one.
    monkeypatch.setattr(decision_service, "SERIES_READ_ROWS", 4)
    create_job(api_on, "paged", spec=PLATEAU)
    for epoch in range(17):
        decide(api_on, "paged", epoch, observed(epoch % 10))
    pages = series_pages(api_on, "paged", limit="7")
    assert [page["epochs"] for page in pages] == [
        list(range(7)), list(range(7, 14)), list(range(14, 17)),
    ]  # fmt: skip
    [whole] = series_pages(api_on, "paged")
    assert joined(pages, "learning_rates") == whole["learning_rates"]
    assert joined(pages, "metrics") == whole["metrics"]


def test_a_full_last_page_ends_with_an_empty_one(api_on: TestClient) -> None:
    create_job(api_on, "exact", spec=PLATEAU)
    for epoch in range(4):
        decide(api_on, "exact", epoch, observed(epoch))
    pages = series_pages(api_on, "exact", limit="2")
    assert [page["epochs"] for page in pages] == [[0, 1], [2, 3], []]
    assert pages[-1] | {"bytes": 0} == {
        "epochs": [], "learning_rates": [], "reasons": [], "reductions": [], "decided_at": [],
        "metrics": [], "applied_learning_rates": [], "drift": [],
        "next_cursor": None, "bytes": 0,
    }  # fmt: skip


def test_pages_stop_before_the_byte_bound_whatever_the_job_reports(db_url: str) -> None:
    bound = 4096
    many = {f"metric_{index:03d}_{'x' * 40}": 0.1 + index for index in range(MAX_METRICS)}
    with app_client(db_url, max_page_bytes=bound) as client:
        create_job(client, "wide", spec=PLATEAU)
        for epoch in range(30):
            decide(client, "wide", epoch, observed(epoch % 10))
        # Epoch 29's end metrics (sent with epoch 30) are more than a page holds: it comes alone
        # (and so may epoch 30, whose reason names what was reported instead of val_loss).
        decide(client, "wide", 30, many)
        decide(client, "wide", 31, observed(1))
        pages = series_pages(client, "wide", limit="100000")
    assert joined(pages, "epochs") == list(range(32))  # every epoch once, in order
    assert len(pages) > 2
    for page in pages:
        assert page["bytes"] <= bound or len(page["epochs"]) == 1, page["epochs"]
    assert any(page["epochs"] == [29] and page["bytes"] > bound for page in pages)
    assert joined(pages, "metrics")[29] == many


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "100001"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"cursor": "not a cursor"}, "query.cursor"),
        ({"cursor": "LTE"}, "query.cursor"),  # "-1"
        ({"superseded": "true"}, "query.superseded"),  # the series has no superseded rows
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    api_on: TestClient, query: dict[str, str], loc: str
) -> None:
    create_job(api_on, "q", spec=PLATEAU)
    response = api_on.get("/v1/jobs/q/series", params=query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in response.json()["errors"]] == [loc]


def test_an_unknown_job_is_404(api_on: TestClient) -> None:
    response = api_on.get("/v1/jobs/nobody/series")
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


@pytest.mark.parametrize(("limit", "max_bytes"), [(100, 1 << 20), (7, 1 << 20), (100, 1500)])
def test_a_page_is_the_same_whatever_the_chunks_it_is_written_in(
    monkeypatch: pytest.MonkeyPatch, limit: int, max_bytes: int
) -> None:
    moment = datetime(2026, 12, 2, tzinfo=UTC)
    points = [
        SeriesPoint(epoch, 0.1 / (epoch + 1), "r" * (epoch % 5), epoch % 2, moment,
                    '{"val_loss": 0.5}' if epoch % 3 else None, None, epoch % 4 == 0)
        for epoch in range(40)
    ]  # fmt: skip
    whole = series_json(points, limit, max_bytes)
    monkeypatch.setattr(schemas, "_SERIES_CHUNK", 3)
    assert series_json(points, limit, max_bytes) == whole
    page = json.loads(whole)
    assert len(whole) <= max_bytes
    assert page["epochs"] == list(range(len(page["epochs"])))
    assert (page["next_cursor"] is None) == (len(page["epochs"]) == 40 and limit > 40)


def test_times_are_written_as_the_api_writes_them() -> None:
    moment = datetime(2026, 12, 2, 3, 4, 5, 600, tzinfo=UTC)
    answered = TypeAdapter(datetime).dump_json(moment).decode().strip('"')
    assert iso_text(moment) == answered == "2026-12-02T03:04:05.000600Z"
    assert iso_text(moment.replace(tzinfo=None)) == answered  # SQLite's naive UTC
    assert iso_text(moment.replace(microsecond=0)) == "2026-12-02T03:04:05Z"
    later = moment.astimezone(timezone(timedelta(hours=2)))
    assert iso_text(later) == TypeAdapter(datetime).dump_json(later).decode().strip('"')


def test_series_and_history_count_the_reductions_the_engine_made(api_on: TestClient) -> None:
    create_job(api_on, "plateau", spec=PLATEAU)
    epochs = len(LOSSES)
    for epoch in range(epochs):
        decide(api_on, "plateau", epoch, observed(epoch))
    metrics = [observed(epoch + 1) for epoch in range(epochs - 1)]
    engine = api_on.post(
        "/v1/preview", json={"spec": PLATEAU, "epochs": epochs, "metrics": metrics}
    ).json()
    assert sum(engine["reductions"]) >= 2, "the losses must make the plateau reduce"
    series = series_pages(api_on, "plateau")
    assert joined(series, "reductions") == engine["reductions"]
    history = api_on.get("/v1/jobs/plateau/epochs", params={"limit": 100}).json()["items"]
    assert [item["reductions"] for item in history] == engine["reductions"]
    reduced = [i for i, count in enumerate(engine["reductions"]) if count]
    rates = engine["learning_rates"]
    assert all(rates[i] < rates[i - 1] for i in reduced)
