"""The decision semantics of docs/design.md, through the real app, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from lrhub.schedules import parse_spec, preview
from lrhub.service.decisions import routes as decision_routes
from lrhub.service.stored_specs import load_spec
from tests.service.helpers import (
    DROP,
    LOSSES,
    PLATEAU,
    create_job,
    decide,
    observed,
    put_schedule,
)


def expected_rates(spec: dict[str, object], losses: list[float], epochs: int) -> list[float]:
    """What the engine alone gives for these metrics: the service must answer the same."""
    metrics = [{"val_loss": loss} for loss in losses[: epochs - 1]]
    return preview(parse_spec(spec), epochs, metrics=metrics).learning_rates


def history(client: TestClient, job_id: str, **params: str) -> list[dict[str, object]]:
    response = client.get(f"/v1/jobs/{job_id}/epochs", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_a_run_gets_the_engines_rates_and_a_history(api_on: TestClient) -> None:
    put_schedule(api_on, "plateau", PLATEAU)
    create_job(api_on, "run-1", schedule="plateau")
    answers = [decide(api_on, "run-1", epoch, observed(epoch)) for epoch in range(10)]

    assert [a["learning_rate"] for a in answers] == expected_rates(PLATEAU, LOSSES, 10)
    assert all(not a["replayed"] and not a["rewound"] and a["gap"] == 0 for a in answers)
    assert answers[-1]["schedule"] == {"name": "plateau", "version": 1}
    rows = history(api_on, "run-1")
    assert [row["epoch"] for row in rows] == list(range(10))
    assert [row["input_metrics"] for row in rows] == [observed(epoch) for epoch in range(10)]
    # Each epoch's end metrics are the next epoch's input; the last epoch's are not known yet.
    assert [row["metrics"] for row in rows] == [observed(epoch) for epoch in range(1, 10)] + [None]
    job = api_on.get("/v1/jobs/run-1").json()
    assert job["last_epoch"] == 9
    assert job["learning_rate"] == answers[-1]["learning_rate"]
    assert job["state"] == answers[-1]["state"]


def test_a_retry_answers_the_stored_decision_without_moving_state(api_on: TestClient) -> None:
    create_job(api_on, "retry", spec=PLATEAU)
    for epoch in range(4):
        first = decide(api_on, "retry", epoch, observed(epoch))
    state_before = api_on.get("/v1/jobs/retry").json()["state"]

    again = decide(api_on, "retry", 3, observed(3))
    earlier = decide(api_on, "retry", 2, observed(2))

    assert again["replayed"] and earlier["replayed"]
    assert again["learning_rate"] == first["learning_rate"]
    assert again["decided_at"] == first["decided_at"]
    assert api_on.get("/v1/jobs/retry").json()["state"] == state_before
    assert len(history(api_on, "retry")) == 4


def test_a_rewind_restores_the_state_and_keeps_superseded_rows(api_on: TestClient) -> None:
    create_job(api_on, "resumed", spec=PLATEAU)
    for epoch in range(7):
        decide(api_on, "resumed", epoch, observed(epoch))
    # The job resumed from its checkpoint after epoch 3 and saw other losses from there on.
    other = [*LOSSES[:3], 2.0, 2.1, 2.2, 0.1, 0.2]
    answers = [decide(api_on, "resumed", epoch, observed(epoch, other)) for epoch in range(4, 9)]

    assert answers[0]["rewound"] and not answers[0]["replayed"]
    assert not any(a["rewound"] for a in answers[1:])
    rates = [a["learning_rate"] for a in answers]
    assert rates == expected_rates(PLATEAU, other, 9)[4:]
    rows = history(api_on, "resumed")
    superseded = [row["epoch"] for row in rows if row["superseded"]]
    assert superseded == [4, 5, 6]
    in_force = history(api_on, "resumed", superseded="false")
    assert [row["epoch"] for row in in_force] == list(range(9))


def test_history_as_csv_holds_every_row_with_its_columns(api_on: TestClient) -> None:
    create_job(api_on, "csv", spec=PLATEAU)
    for epoch in range(4):
        decide(api_on, "csv", epoch, observed(epoch))
    decide(api_on, "csv", 2, {"val_loss": 9.0})  # a rewind: epochs 2 and 3 superseded
    response = api_on.get("/v1/jobs/csv/epochs.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "epoch", "learning_rate", "reason", "stop", "schedule", "version", "superseded",
        "decided_at", "applied_learning_rate", "drift", "val_loss", "input.val_loss",
    ]  # fmt: skip
    assert [(row["epoch"], row["superseded"]) for row in rows] == [
        ("0", "false"), ("1", "false"), ("2", "true"), ("3", "true"), ("2", "false"),
    ]  # fmt: skip
    as_json = history(api_on, "csv")
    assert [float(row["learning_rate"]) for row in rows] == [i["learning_rate"] for i in as_json]
    # One column per metric: a number where the JSON item has the metric, empty where not.
    assert [metric_cells(row, "") for row in rows] == [i["metrics"] or {} for i in as_json]
    assert [metric_cells(row, "input.") for row in rows] == [
        i["input_metrics"] or {} for i in as_json
    ]
    # 0.1.0's spelling is still answered, with every row whatever the page size.
    legacy = api_on.get("/v1/jobs/csv/epochs", params={"format": "csv", "limit": "1"})
    assert legacy.headers["content-type"].startswith("text/csv")
    assert legacy.text == response.text


def metric_cells(row: dict[str, str], prefix: str) -> dict[str, float]:
    """The metrics of a CSV row whose column starts with `prefix` ("" for the end metrics)."""
    fixed = set(decision_routes.CSV_COLUMNS)
    return {
        name.removeprefix(prefix): float(value)
        for name, value in row.items()
        if value
        and name not in fixed
        and (name.startswith(prefix) if prefix else not name.startswith("input."))
    }


def test_csv_metric_columns_are_distinct_whatever_the_metrics_are_named() -> None:
    columns = decision_routes.csv_metric_columns(["val_loss", "epoch", "input.acc", "acc"], ["acc"])
    assert columns == ["acc", "metric.epoch", "metric.input.acc", "val_loss", "input.acc"]
    assert len(set(columns) | set(decision_routes.CSV_COLUMNS)) == len(columns) + len(
        decision_routes.CSV_COLUMNS
    )


def test_history_in_an_unknown_format_is_refused_naming_the_parameter(
    api_on: TestClient,
) -> None:
    create_job(api_on, "xml", spec=PLATEAU)
    response = api_on.get("/v1/jobs/xml/epochs", params={"format": "xml"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": "query.format", "msg": "the history is JSON here; CSV is epochs.csv"}
    ]


def test_unknown_metrics_answer_the_stored_decision_or_decide_as_missing(
    api_on: TestClient,
) -> None:
    create_job(api_on, "unknown", spec=PLATEAU)
    for epoch in range(3):
        stored = decide(api_on, "unknown", epoch, observed(epoch))
    state = api_on.get("/v1/jobs/unknown").json()["state"]

    replayed = decide(api_on, "unknown", 2, None)
    assert replayed["replayed"] and replayed["learning_rate"] == stored["learning_rate"]

    missing = decide(api_on, "unknown", 3, None)
    assert not missing["replayed"]
    assert missing["learning_rate"] == stored["learning_rate"]
    assert {k: missing["state"][k] for k in ("best", "wait")} == {
        k: state[k] for k in ("best", "wait")
    }


def test_a_missing_monitored_metric_leaves_plateau_state_unchanged(api_on: TestClient) -> None:
    create_job(api_on, "absent", spec=PLATEAU)
    decide(api_on, "absent", 0, {})
    before = decide(api_on, "absent", 1, {"val_loss": 1.0})
    after = decide(api_on, "absent", 2, {"loss": 0.3})
    assert after["state"] == before["state"]
    assert after["learning_rate"] == before["learning_rate"]
    assert "val_loss" in after["reason"]


def test_a_gap_is_decided_from_the_state_and_counted(api_on: TestClient) -> None:
    create_job(api_on, "gappy", spec=DROP)
    decide(api_on, "gappy", 0, {})
    decide(api_on, "gappy", 1, {})
    answer = decide(api_on, "gappy", 5, {})
    assert answer["gap"] == 3
    assert answer["learning_rate"] == preview(parse_spec(DROP), 6).learning_rates[5]


def test_steps_per_epoch_gives_per_step_rates(api_on: TestClient) -> None:
    per_step = {**DROP, "unit": "step", "every": 3}
    create_job(api_on, "steps", spec=per_step)
    answers = [decide(api_on, "steps", epoch, {}, steps_per_epoch=4) for epoch in range(3)]
    expected = preview(parse_spec(per_step), 3, steps_per_epoch=4).step_learning_rates
    assert [a["step_learning_rates"] for a in answers] == expected
    assert all(a["learning_rate"] == a["step_learning_rates"][0] for a in answers)

    retried_with_other_steps = decide(api_on, "steps", 2, {}, steps_per_epoch=2)
    assert not retried_with_other_steps["replayed"]
    assert len(retried_with_other_steps["step_learning_rates"]) == 2


def test_momentum_is_answered_replayed_and_kept_in_the_history(api_on: TestClient) -> None:
    one_cycle = {"type": "one_cycle", "unit": "step", "max_learning_rate": 0.1, "total_steps": 12}
    create_job(api_on, "momentum", spec=one_cycle)
    answers = [decide(api_on, "momentum", epoch, {}, steps_per_epoch=4) for epoch in range(3)]
    expected = preview(parse_spec(one_cycle), 3, steps_per_epoch=4)
    assert [a["step_momentums"] for a in answers] == expected.step_momentums
    assert [a["momentum"] for a in answers] == expected.momentums
    assert answers[0]["momentum"] == 0.95  # torch's default max_momentum, at the lowest rate

    # An operator's scale changes the rates, never the momentum; a retry answers the same.
    assert api_on.patch("/v1/jobs/momentum", json={"scale": 0.5}).status_code == 200
    replay = decide(api_on, "momentum", 2, {}, steps_per_epoch=4)
    assert replay["replayed"] and replay["step_momentums"] == answers[2]["step_momentums"]
    rows = history(api_on, "momentum")
    assert [row["momentum"] for row in rows] == expected.momentums
    assert [row["step_momentums"] for row in rows] == expected.step_momentums


def test_a_spec_without_momentum_fields_stored_before_keeps_its_meaning() -> None:
    stored = {"type": "cyclic", "base_learning_rate": 0.01, "max_learning_rate": 0.1}
    stored |= {"step_size_up": 4, "unit": "epoch"}
    assert preview(load_spec(json.dumps(stored)), 2).momentums is None
    # The same spec sent today gets torch's default: momentum cycles.
    assert preview(parse_spec(stored), 2).momentums is not None
