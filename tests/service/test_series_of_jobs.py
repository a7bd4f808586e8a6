"""`GET /v1/series?jobs=`: several jobs' curves in one request and one query, each as its own
`/v1/jobs/{id}/series` gives it, paged by job then epoch and bounded in bytes. Real app, SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from lrhub.service.decisions import service as decision_service
from lrhub.service.decisions.schemas import SeriesOfJobs
from lrhub.service.fields import MAX_METRICS
from tests.service.conftest import ADMIN_HEADERS, app_client
from tests.service.helpers import (
    DROP,
    PLATEAU,
    all_pages,
    create_job,
    decide,
    observed,
    problem,
)

# Job id -> epochs decided. `empty` has none; ids are not in the order asked, to show the
# answer's order (by id) is not the request's.
FLEET = {"b-two": 5, "a-one": 3, "empty": 0, "c-three": 9}


def fleet(client: TestClient, **headers: str) -> None:
    for job_id, epochs in FLEET.items():
        response = client.put(f"/v1/jobs/{job_id}", json={"spec": PLATEAU}, headers=headers)
        assert response.status_code == 201, response.text
        for epoch in range(epochs):
            decide(client, job_id, epoch, observed(epoch), None, **headers)


def pages_of(client: TestClient, **params: str) -> list[dict[str, Any]]:
    """Every page of `GET /v1/series` for `params`, following the cursors."""
    return all_pages(client, "/v1/series", SeriesOfJobs, **params)


def per_job(pages: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """The pages' items joined by job: a job a page stopped in goes on in the next one."""
    joined: dict[str, dict[str, list[Any]]] = {}
    for page in pages:
        for item in page["items"]:
            columns = joined.setdefault(item["job_id"], {})
            for name, values in item.items():
                if name != "job_id":
                    columns.setdefault(name, []).extend(values)
    return joined


def own_series(client: TestClient, job_id: str) -> dict[str, Any]:
    page: dict[str, Any] = client.get(f"/v1/jobs/{job_id}/series").json()
    assert page.pop("next_cursor") is None
    return page


def test_each_job_is_its_own_series_in_one_answer(api_on: TestClient) -> None:
    fleet(api_on)
    [page] = pages_of(api_on, jobs="c-three,a-one,empty,b-two,a-one")
    assert [item["job_id"] for item in page["items"]] == sorted(FLEET)
    for item in page["items"]:
        job_id = item.pop("job_id")
        assert item == own_series(api_on, job_id)
        assert len(item["epochs"]) == FLEET[job_id]


def test_fields_choose_the_columns(api_on: TestClient) -> None:
    fleet(api_on)
    [page] = pages_of(api_on, jobs="a-one,empty", fields="metrics,learning_rates,epochs")
    assert [set(item) for item in page["items"]] == [
        {"job_id", "epochs", "learning_rates", "metrics"}
    ] * 2
    whole = own_series(api_on, "a-one")
    assert page["items"][0]["metrics"] == whole["metrics"]
    assert page["items"][0]["learning_rates"] == whole["learning_rates"]
    assert page["items"][1] == {
        "job_id": "empty",
        "epochs": [],
        "learning_rates": [],
        "metrics": [],
    }


def test_pages_of_limit_epochs_go_on_across_jobs(
    api_on: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads of 2 rows, so that a page takes several reads, across jobs.
    monkeypatch.setattr(decision_service, "SERIES_OF_JOBS_READ_ROWS", 2)
    fleet(api_on)
    pages = pages_of(api_on, jobs=",".join(FLEET), limit="4")
    assert all(sum(len(item["epochs"]) for item in page["items"]) <= 4 for page in pages)
    assert len(pages) == 5  # 17 epochs, 4 a page
    joined = per_job(pages)
    assert sorted(joined) == sorted(FLEET)
    for job_id in FLEET:
        whole = own_series(api_on, job_id)
        assert joined[job_id] == whole


def test_a_page_full_at_the_last_job_ends_with_an_empty_one(api_on: TestClient) -> None:
    fleet(api_on)
    pages = pages_of(api_on, jobs="a-one,b-two", limit="8")
    assert [[item["epochs"] for item in page["items"]] for page in pages] == [
        [list(range(3)), list(range(5))], [],
    ]  # fmt: skip


def test_pages_stop_before_the_byte_bound(db_url: str) -> None:
    bound = 4096
    many = {f"metric_{index:03d}_{'x' * 40}": 0.1 + index for index in range(MAX_METRICS)}
    with app_client(db_url, max_page_bytes=bound) as client:
        fleet(client)
        # One epoch's end metrics are more than a page holds: that epoch comes alone.
        decide(client, "a-one", 3, many)
        decide(client, "a-one", 4, observed(1))
        pages = pages_of(client, jobs=",".join(FLEET))
    joined = per_job(pages)
    with app_client(db_url) as unbounded:
        for job_id in FLEET:
            assert joined[job_id] == own_series(unbounded, job_id)
    assert len(pages) > 2
    for page in pages:
        shown = sum(len(item["epochs"]) for item in page["items"])
        assert page["bytes"] <= bound or shown == 1, page
    assert joined["a-one"]["metrics"][2] == many


def test_one_query_reads_every_job(api_on: TestClient) -> None:
    for index in range(20):
        create_job(api_on, f"job-{index:02d}", spec=DROP)
        for epoch in range(3):
            decide(api_on, f"job-{index:02d}", epoch, {})
    engine: Engine = api_on.app.state.context.engine  # type: ignore[attr-defined]
    with statements(engine) as seen:
        [page] = pages_of(api_on, jobs=",".join(f"job-{index:02d}" for index in range(20)))
    assert len(page["items"]) == 20
    assert len([text for text in seen if "FROM decisions" in text]) == 1, seen
    assert len([text for text in seen if "FROM jobs" in text]) == 1, seen


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs within the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({}, "query.jobs"),
        ({"jobs": ""}, "query.jobs"),
        ({"jobs": " , "}, "query.jobs"),
        ({"jobs": "a-one,-bad"}, "query.jobs"),
        ({"jobs": "a-one,a\x00b"}, "query.jobs"),
        ({"jobs": ",".join(f"j{index}" for index in range(3))}, "query.jobs"),  # over the cap
        ({"jobs": "a-one", "fields": "rates"}, "query.fields"),
        ({"jobs": "a-one", "fields": "metrics\x00"}, "query.fields"),
        ({"jobs": "a-one", "limit": "0"}, "query.limit"),
        ({"jobs": "a-one", "limit": "100001"}, "query.limit"),
        ({"jobs": "a-one", "cursor": "not a cursor"}, "query.cursor"),
        ({"jobs": "a-one", "cursor": "YS1vbmU="}, "query.cursor"),  # "a-one", no epoch
        ({"jobs": "a-one", "cursor": "YS1vbmUgLTI"}, "query.cursor"),  # "a-one -2"
        ({"jobs": "a-one", "superseded": "true"}, "query.superseded"),
    ],
)
def test_bad_queries_are_422_naming_the_parameter(
    db_url: str, query: dict[str, str], loc: str
) -> None:
    with app_client(db_url, max_series_jobs=2) as client:
        create_job(client, "a-one", spec=PLATEAU)
        response = client.get("/v1/series", params=query)
    answer = problem(response, 422)
    assert [error["loc"] for error in answer["errors"]] == [loc]
    if "over" in str(query):
        assert "LRHUB_MAX_SERIES_JOBS" in answer["detail"]


def test_too_many_jobs_names_the_setting(api: TestClient) -> None:
    jobs = ",".join(f"j{index}" for index in range(101))
    answer = problem(api.get("/v1/series", params={"jobs": jobs}), 422, "LRHUB_MAX_SERIES_JOBS")
    assert answer["errors"][0]["loc"] == "query.jobs"


def test_an_unknown_job_is_404_naming_it(api_on: TestClient) -> None:
    create_job(api_on, "a-one", spec=PLATEAU)
    answer = problem(api_on.get("/v1/series", params={"jobs": "a-one,nobody"}), 404, "nobody")
    assert answer["job_id"] == "nobody"


def test_a_job_token_reads_only_its_job(secure_api_on: TestClient) -> None:
    fleet(secure_api_on, **ADMIN_HEADERS)
    token = secure_api_on.put("/v1/jobs/mine", json={"spec": DROP}, headers=ADMIN_HEADERS).json()[
        "token"
    ]
    own = {"Authorization": f"Bearer {token}"}
    alone = secure_api_on.get("/v1/series", params={"jobs": "mine"}, headers=own)
    assert alone.status_code == 200, alone.text
    assert [item["job_id"] for item in alone.json()["items"]] == ["mine"]
    others = secure_api_on.get("/v1/series", params={"jobs": "mine,a-one"}, headers=own)
    problem(others, 403, "a-one")
    assert secure_api_on.get("/v1/series", params={"jobs": "a-one"}).status_code == 401
