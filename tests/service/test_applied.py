"""Applied rates and drift through the real app, on SQLite and PostgreSQL: what a job reports its
optimizer held is recorded on the epoch it ended, shown in history, series and CSV, and a rate
that differs from the one in force beyond float32 rounding is drift: streamed, counted in
`/metrics` and announced to webhooks."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lrhub.schedules import parse_spec, preview
from lrhub.service.auth.principal import Principal
from lrhub.service.decisions.drift import FLOAT32_TOLERANCE, drifted
from lrhub.service.jobs.selectors import Selector
from lrhub.service.storage.database import make_engine
from lrhub.service.stream import service as stream_service
from lrhub.service.stream.model import StreamItem, StreamKind
from tests.service.conftest import app_client
from tests.service.helpers import create_job, derived_step_lists, problem
from tests.service.test_webhooks import FAST, subscribe
from tests.support.receiver import running_receiver

ADMIN = Principal(actor="test")
EVERY_JOB = Selector()
COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.01}


def ask(
    api: TestClient, job_id: str, epoch: int, applied: dict[str, float] | None, **body: Any
) -> dict[str, Any]:
    metrics = {} if epoch == 0 else {"loss": 1.0 / (epoch + 1)}
    payload: dict[str, Any] = {"metrics": metrics, **body}
    if applied is not None:
        payload["applied"] = applied
    response = api.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json=payload)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def history(api: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/jobs/{job_id}/epochs", params={"limit": "100"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def epoch_of(item: StreamItem) -> int | None:
    return item.decision.epoch if item.decision is not None else None


def drift_count(api: TestClient, drift: str) -> float:
    text = api.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(f'lrhub_applied_reports_total{{drift="{drift}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_float32_rounding_is_no_drift_and_anything_beyond_is() -> None:
    for rate in preview(parse_spec(COSINE), 10).learning_rates:
        assert not drifted(float(np.float32(rate)), rate)
        assert drifted(rate * (1 + 4 * FLOAT32_TOLERANCE), rate)
    assert not drifted(0.0, 0.0)
    assert drifted(1e-12, 0.0)


def test_applied_rates_are_recorded_and_drift_is_marked_streamed_and_counted(
    api_on: TestClient, db_url: str
) -> None:
    create_job(api_on, "fit", spec=COSINE)
    engine = make_engine(db_url)
    try:
        start = stream_service.open_stream(engine, ADMIN, None, None)
        answers: list[dict[str, Any]] = []
        applied: dict[str, float] | None = None
        seen: list[StreamItem] = []
        for epoch in range(6):
            answers.append(ask(api_on, "fit", epoch, applied))
            if epoch == 3:  # a reader has epoch 3's decision before its drift is known
                seen = stream_service.next_events(engine, start, EVERY_JOB, None, limit=100)
            # The optimizer holds the answer as float32 (Keras does); epoch 3's was overwritten.
            rate = float(np.float32(answers[-1]["learning_rate"]))
            applied = {"learning_rate": 0.5 if epoch == 3 else rate}
        assert applied is not None
        end = api_on.put(
            "/v1/jobs/fit/epochs/5/metrics", json={"metrics": {"loss": 0.1}, "applied": applied}
        )
        assert end.status_code == 200, end.text
        assert end.json()["applied_learning_rate"] == applied["learning_rate"]
        assert end.json()["drift"] is False

        rows = history(api_on, "fit")
        assert [row["drift"] for row in rows] == [False, False, False, True, False, False]
        assert rows[3]["applied_learning_rate"] == 0.5
        assert [row["learning_rate"] for row in rows] == [a["learning_rate"] for a in answers]
        series = api_on.get("/v1/jobs/fit/series").json()
        assert series["drift"] == [False, False, False, True, False, False]
        assert series["applied_learning_rates"][3] == 0.5
        table = list(csv.DictReader(io.StringIO(api_on.get("/v1/jobs/fit/epochs.csv").text)))
        assert [row["drift"] for row in table] == ["false"] * 3 + ["true"] + ["false"] * 2
        assert float(table[3]["applied_learning_rate"]) == 0.5
        assert drift_count(api_on, "true") == 1 and drift_count(api_on, "false") == 5

        assert [(item.kind, epoch_of(item)) for item in seen] == [
            (StreamKind.DECISION, epoch) for epoch in range(4)
        ]
        later = stream_service.next_events(engine, seen[-1].seq, EVERY_JOB, None, limit=100)
        # Epoch 3's decision again, as a drift, with epoch 4's decision that reported it (one
        # commit; the sequencer numbers by decision time).
        assert [(item.kind, epoch_of(item)) for item in later] == [
            (StreamKind.DRIFT, 3),
            (StreamKind.DECISION, 4),
            (StreamKind.DECISION, 5),
        ]
        assert [item.decision.drift for item in later if item.decision] == [True, False, False]
    finally:
        engine.dispose()


def test_a_report_without_applied_records_nothing(api_on: TestClient) -> None:
    create_job(api_on, "old-client", spec=COSINE)
    for epoch in range(3):
        ask(api_on, "old-client", epoch, None)
    rows = history(api_on, "old-client")
    assert [(row["applied_learning_rate"], row["drift"]) for row in rows] == [(None, None)] * 3


def test_per_step_decisions_compare_the_last_steps_rate(api_on: TestClient) -> None:
    spec = {**COSINE, "unit": "step", "decay_steps": 40}
    create_job(api_on, "steps", spec=spec)
    first = ask(api_on, "steps", 0, None, steps_per_epoch=10)
    last_step = derived_step_lists(first)[0][-1]  # computed from `steps`, as a client does
    assert last_step != first["learning_rate"]
    ask(api_on, "steps", 1, {"learning_rate": last_step}, steps_per_epoch=10)
    rows = history(api_on, "steps")
    assert rows[0]["drift"] is False and rows[0]["applied_learning_rate"] == last_step


@pytest.mark.parametrize("asked_on", ["the deciding process", "a new process"])
def test_the_step_in_force_is_the_same_kept_or_read_back(db_url: str, asked_on: str) -> None:
    """The process that made a decision keeps what it left in force; another process (a restart,
    a replica) reads it back: the same last step's rate and momentum either way."""
    spec = {"type": "one_cycle", "unit": "step", "max_learning_rate": 0.1, "total_steps": 40}
    with app_client(db_url) as deciding:
        create_job(deciding, "cycle", spec=spec)
        first = ask(deciding, "cycle", 0, None, steps_per_epoch=10)
        rates, momentums = derived_step_lists(first)
        assert momentums is not None and (rates[-1], momentums[-1]) != (rates[0], momentums[0])
        held = {"learning_rate": rates[-1], "momentum": momentums[-1]}
        if asked_on == "the deciding process":
            ask(deciding, "cycle", 1, held, steps_per_epoch=10)
            ask(deciding, "cycle", 2, {"learning_rate": rates[-1]}, steps_per_epoch=10)
    if asked_on == "a new process":
        with app_client(db_url) as other:
            ask(other, "cycle", 1, held, steps_per_epoch=10)
            ask(other, "cycle", 2, {"learning_rate": rates[-1]}, steps_per_epoch=10)
    with app_client(db_url) as reader:
        rows = history(reader, "cycle")
    assert [(row["applied_learning_rate"], row["drift"]) for row in rows[:2]] == [
        (rates[-1], False),
        (rates[-1], True),  # epoch 1's last step is not epoch 0's
    ]


def test_momentum_is_compared_where_the_schedule_sets_it(api_on: TestClient) -> None:
    spec = {"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 10}
    create_job(api_on, "cycle", spec=spec)
    first = ask(api_on, "cycle", 0, None)
    assert first["momentum"] is not None
    ask(api_on, "cycle", 1, {"learning_rate": first["learning_rate"], "momentum": 0.5})
    assert history(api_on, "cycle")[0]["drift"] is True


@pytest.mark.parametrize(
    ("applied", "loc"),
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": "0.1"}, "learning_rate"),
        ({"momentum": 0.9}, "learning_rate"),
        ({"learning_rate": 0.1, "extra": 1}, "extra"),
    ],
)
def test_a_bad_applied_report_names_the_field(
    api_on: TestClient, applied: dict[str, Any], loc: str
) -> None:
    create_job(api_on, "bad", spec=COSINE)
    response = api_on.post("/v1/jobs/bad/epochs/0", json={"metrics": {}, "applied": applied})
    problem(response, 422, loc)


def test_drift_is_announced_to_webhooks(db_url: str) -> None:
    with app_client(db_url, **FAST) as api, running_receiver() as receiver:
        created = subscribe(api, receiver, ["drift"])
        create_job(api, "hooked", spec=COSINE, labels={"team": "a"})
        first = ask(api, "hooked", 0, None)
        ask(api, "hooked", 1, {"learning_rate": first["learning_rate"] * 2})
        got = receiver.wait_for(lambda seen: len(seen) >= 1)
        event = got[0].verify(created["secret"])
        assert event["type"] == "drift"
        assert event["data"]["job_id"] == "hooked" and event["data"]["epoch"] == 0
        assert event["data"]["learning_rate"] == first["learning_rate"]
        assert event["data"]["applied_learning_rate"] == first["learning_rate"] * 2
        assert event["data"]["labels"] == {"team": "a"}
