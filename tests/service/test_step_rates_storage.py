"""Per-step rates are derived, not stored: a stored decision's size does not grow with
steps_per_epoch, and every read (answer, replay, history, end report) gives the very floats the
decision answered. History pages stop before a byte bound; the CSV history streams. Real app,
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from lrhub.service.decisions import routes as decision_routes
from lrhub.service.storage.database import make_engine
from lrhub.service.storage.tables import decisions
from tests.service.conftest import app_client
from tests.service.helpers import PLATEAU, create_job, decide, observed

COSINE = {
    "type": "cosine_decay",
    "initial_learning_rate": 0.1,
    "decay_steps": 300_000,
    "unit": "step",
    "warmup_target": 0.2,
    "warmup_steps": 50,
}
# A plateau over a per-step base: rates that depend on the state and the metrics.
PLATEAU_OVER_COSINE = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "base": {**COSINE, "decay_steps": 40},
}


def stored_row_bytes(db_url: str, job_id: str) -> list[int]:
    """The bytes each of the job's decision rows takes in the database itself, oldest first."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                size = "pg_column_size(decisions.*)"
            else:
                size = " + ".join(
                    f"coalesce(length(CAST({column.name} AS BLOB)), 0)" for column in decisions.c
                )
            query = text(f"SELECT {size} FROM decisions WHERE job_id = :job_id ORDER BY id")
            rows = connection.execute(query, {"job_id": job_id}).scalars()
            return [int(value) for value in rows]
    finally:
        engine.dispose()


def history(client: TestClient, job_id: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/epochs", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_stored_decision_does_not_grow_with_steps_per_epoch(
    db_url: str, api_on: TestClient
) -> None:
    sizes = {}
    answers = {}
    for steps in (10, 100_000):
        job_id = f"steps-{steps}"
        create_job(api_on, job_id, spec=COSINE)
        answers[steps] = [
            decide(api_on, job_id, epoch, {}, steps_per_epoch=steps) for epoch in range(2)
        ]
        sizes[steps] = stored_row_bytes(db_url, job_id)
    assert [len(answer["step_learning_rates"]) for answer in answers[100_000]] == [100_000] * 2
    # 100,000 stored floats would take some 900 kB; a row takes what its other values do (their
    # digits differ: another step's rate, another reason text).
    for small, large in zip(sizes[10], sizes[100_000], strict=True):
        assert large - small < 64, (sizes, "a stored row grows with steps_per_epoch")
    assert max(sizes[100_000]) < 2048, sizes
    # ... and every read still gives the floats the decision answered.
    rows = history(api_on, "steps-100000")
    assert [row["step_learning_rates"] for row in rows] == [
        answer["step_learning_rates"] for answer in answers[100_000]
    ]
    replayed = decide(api_on, "steps-100000", 1, {}, steps_per_epoch=100_000)
    assert replayed["replayed"]
    assert replayed["step_learning_rates"] == answers[100_000][1]["step_learning_rates"]


def test_derived_step_rates_follow_state_metrics_and_operator_settings(
    api_on: TestClient,
) -> None:
    """Plateau reductions, a scale, an override, a pause and a rewind, then a switch to another
    spec: the history derives each epoch's step rates exactly as they were answered."""
    create_job(api_on, "knobs", spec=PLATEAU_OVER_COSINE)
    answers: dict[int, dict[str, Any]] = {}
    changes: dict[int, dict[str, Any]] = {
        3: {"scale": 0.5},
        5: {"override": 0.003},
        6: {"override": None, "paused": True},
        8: {"paused": False, "scale": 1.0},
        10: {"spec": COSINE},
    }
    for epoch in range(11):
        if epoch in changes:
            response = api_on.patch("/v1/jobs/knobs", json=changes[epoch])
            assert response.status_code == 200, response.text
        answers[epoch] = decide(api_on, "knobs", epoch, observed(epoch), steps_per_epoch=7)
    # A resume from the checkpoint of epoch 4 with other metrics: epochs from 4 on are decided
    # again, the old ones superseded.
    rewound = decide(api_on, "knobs", 4, {"val_loss": 9.0}, steps_per_epoch=7)
    assert rewound["rewound"]

    rows = history(api_on, "knobs")
    assert len({tuple(row["step_learning_rates"]) for row in rows}) > 5  # they do differ
    in_force = [row for row in rows if not row["superseded"]]
    superseded = [row for row in rows if row["superseded"]]
    assert [row["step_learning_rates"] for row in superseded] == [
        answers[epoch]["step_learning_rates"] for epoch in range(4, 11)
    ]
    assert [row["step_learning_rates"] for row in in_force] == [
        *(answers[epoch]["step_learning_rates"] for epoch in range(4)),
        rewound["step_learning_rates"],
    ]
    assert answers[5]["step_learning_rates"] == [0.003] * 7
    # The end report answers the epoch with its rates too.
    reported = api_on.put("/v1/jobs/knobs/epochs/4/metrics", json={"metrics": {"val_loss": 1.0}})
    assert reported.status_code == 200, reported.text
    assert reported.json()["step_learning_rates"] == rewound["step_learning_rates"]


def test_history_pages_stop_before_the_byte_bound(db_url: str) -> None:
    bound = 4096
    with app_client(db_url, max_page_bytes=bound) as client:
        create_job(client, "paged", spec=PLATEAU)
        for epoch in range(40):
            decide(client, "paged", epoch, observed(epoch % 10))
        # One epoch whose step rates alone exceed the bound: a page of its own.
        decide(client, "paged", 40, observed(0), steps_per_epoch=1000)
        decide(client, "paged", 41, observed(1))
        epochs: list[int] = []
        pages: list[tuple[list[int], int]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "1000"} | ({"cursor": cursor} if cursor else {})
            response = client.get("/v1/jobs/paged/epochs", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["items"], "a page always moves on"
            shown = [item["epoch"] for item in page["items"]]
            pages.append((shown, len(response.content)))
            epochs += shown
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert epochs == list(range(42))  # every epoch once, in order, across the pages
    assert len(pages) > 3
    for shown, size in pages:
        assert size <= bound or shown == [40], (shown, size)
    assert ([40], max(size for _, size in pages)) in pages  # the big epoch alone, past the bound


def test_the_csv_history_streams_every_row_in_pages(
    api_on: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of 4 rows: 9 in force and 2 superseded, 11 rows, the last page partial.
    monkeypatch.setattr(decision_routes, "CSV_PAGE_ROWS", 4)
    monkeypatch.setattr(decision_routes, "CSV_NAME_PAGE_ROWS", 3)
    create_job(api_on, "csv", spec=PLATEAU)
    for epoch in range(10):
        decide(api_on, "csv", epoch, observed(epoch))
    decide(api_on, "csv", 8, {"val_loss": 3.0})
    json_rows = history(api_on, "csv")
    assert len(json_rows) == 11

    response = api_on.get("/v1/jobs/csv/epochs.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "content-length" not in response.headers  # streamed, not built whole
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(row["epoch"]) for row in rows] == [row["epoch"] for row in json_rows]
    assert [float(row["learning_rate"]) for row in rows] == [
        row["learning_rate"] for row in json_rows
    ]
    assert [
        {"val_loss": float(row["input.val_loss"])} if row["input.val_loss"] else {} for row in rows
    ] == [row["input_metrics"] or {} for row in json_rows]
    in_force = api_on.get("/v1/jobs/csv/epochs.csv", params={"superseded": "false"})
    assert len(list(csv.DictReader(io.StringIO(in_force.text)))) == 9
    missing = api_on.get("/v1/jobs/nobody/epochs.csv")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_rows_stored_before_keep_their_step_rates(db_url: str, api_on: TestClient) -> None:
    """A 0.1.0 row holds its list and no step rule: it is shown as stored."""
    create_job(api_on, "legacy", spec=COSINE)
    decide(api_on, "legacy", 0, {}, steps_per_epoch=3)
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                decisions.update()
                .where(decisions.c.job_id == "legacy")
                .values(step_learning_rates=[0.5, 0.25, 0.125], step_scale=None, step_fixed=None)
            )
    finally:
        engine.dispose()
    assert history(api_on, "legacy")[0]["step_learning_rates"] == [0.5, 0.25, 0.125]
    replayed = decide(api_on, "legacy", 0, {}, steps_per_epoch=3)
    assert replayed["replayed"]
    assert replayed["step_learning_rates"] == [0.5, 0.25, 0.125]
