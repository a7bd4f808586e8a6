"""Costly evaluations run in a pool of separate processes (lrhub.service.evaluation): the same
answers and the same errors as in the server process, and a pool process that dies costs the
request it was evaluating, nothing more."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lrhub.schedules import OperatorSettings, answer_epoch, parse_spec
from lrhub.service.errors import Unavailable
from lrhub.service.evaluation import Evaluator
from lrhub.service.settings import ServerSettings
from tests.service.conftest import app_client
from tests.service.helpers import HEAVY_FORMULA, PLATEAU, observed
from tests.support.server import running_server

# Negative from its 101st step on: the engine refuses that epoch.
TURNS_NEGATIVE = {
    "type": "expression",
    "initial_learning_rate": 0.1,
    "unit": "step",
    "expression": "0.1 - step * 0.001",
}
IN_PROCESS_SETTINGS: dict[str, Any] = {"evaluation_processes": 0}
# Every evaluation in the pool, however cheap.
POOLED_SETTINGS: dict[str, Any] = {"evaluation_processes": 1, "process_evaluation_cost": 0}
# Fields that tell two jobs' answers apart whatever computed them.
OWN_FIELDS = ("job_id", "decided_at")


def essence(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key not in OWN_FIELDS}


def decide(api: TestClient, job_id: str, epoch: int, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_decisions_evaluated_in_the_pool_answer_as_in_process(db_url: str) -> None:
    with (
        app_client(db_url, **IN_PROCESS_SETTINGS) as inline,
        app_client(db_url, **POOLED_SETTINGS) as pooled,
    ):
        for name, spec, steps in (("plateau", PLATEAU, 4), ("formula", HEAVY_FORMULA, 500)):
            for api, suffix in ((inline, "inline"), (pooled, "pooled")):
                assert api.put(f"/v1/jobs/{name}-{suffix}", json={"spec": spec}).status_code == 201
            for epoch in range(6):
                body = {"metrics": observed(epoch), "steps_per_epoch": steps}
                expected = decide(inline, f"{name}-inline", epoch, **body)
                assert essence(decide(pooled, f"{name}-pooled", epoch, **body)) == essence(expected)
            # A retry (its step rates derived again) and a rewind to an older checkpoint.
            retry = {"metrics": observed(5), "steps_per_epoch": steps}
            replayed = decide(pooled, f"{name}-pooled", 5, **retry)
            assert replayed["replayed"] and essence(replayed) == essence(expected) | {
                "replayed": True
            }
            rewind = {"metrics": {"val_loss": 9.0, "loss": 9.0}, "steps_per_epoch": steps}
            expected = decide(inline, f"{name}-inline", 3, **rewind)
            assert expected["rewound"]
            assert essence(decide(pooled, f"{name}-pooled", 3, **rewind)) == essence(expected)


def test_a_preview_evaluated_in_the_pool_answers_as_in_process(sqlite_url: str) -> None:
    metrics = [observed(epoch) for epoch in range(1, 9)]
    requests = (
        {"spec": HEAVY_FORMULA, "epochs": 4, "steps_per_epoch": 300},
        {"spec": PLATEAU, "epochs": 10, "steps_per_epoch": 3, "metrics": metrics},
    )
    with (
        app_client(sqlite_url, **IN_PROCESS_SETTINGS) as inline,
        app_client(sqlite_url, **POOLED_SETTINGS) as pooled,
    ):
        for request in requests:
            expected = inline.post("/v1/preview", json=request)
            assert expected.status_code == 200, expected.text
            assert pooled.post("/v1/preview", json=request).json() == expected.json()


def test_an_engine_error_in_the_pool_is_answered_as_in_process(db_url: str) -> None:
    decision = {"metrics": {}, "steps_per_epoch": 200}
    preview = {"spec": TURNS_NEGATIVE, "epochs": 2, "steps_per_epoch": 200}
    with (
        app_client(db_url, **IN_PROCESS_SETTINGS) as inline,
        app_client(db_url, **POOLED_SETTINGS) as pooled,
    ):
        assert inline.put("/v1/jobs/negative", json={"spec": TURNS_NEGATIVE}).status_code == 201
        answers = []
        for api in (inline, pooled):
            refused = api.post("/v1/jobs/negative/epochs/0", json=decision)
            previewed = api.post("/v1/preview", json=preview)
            answers.append(
                [(r.status_code, r.headers["content-type"], r.json()) for r in (refused, previewed)]
            )
        assert answers[0] == answers[1]
        assert [status for status, _, _ in answers[0]] == [422, 422]
        assert answers[0][0][2]["type"].endswith("evaluation-error")
        # The refused epoch was not decided, by either.
        assert pooled.get("/v1/jobs/negative/epochs").json()["items"] == []


def test_costly_calls_run_in_another_process_and_cheap_ones_here() -> None:
    evaluator = Evaluator(processes=1, threshold=10)
    try:
        worker = evaluator.run(11, os.getpid)
        assert worker != os.getpid()
        assert evaluator.run(11, os.getpid) == worker  # the pool stays up between requests
        assert evaluator.run(10, os.getpid) == os.getpid()
    finally:
        evaluator.close()
    assert Evaluator(processes=0, threshold=0).run(10**9, os.getpid) == os.getpid()


def children(pid: int) -> list[int]:
    """The ids of the processes whose parent is `pid`."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(child) for task in tasks for child in (task / "children").read_text().split()]


def kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it is gone (its parent, the forkserver, reaps it)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} outlived SIGKILL"
        time.sleep(0.01)  # polling interval until the kernel has removed it


def test_a_pool_process_killed_between_requests_is_replaced() -> None:
    evaluator = Evaluator(processes=1, threshold=0)
    try:
        killed = evaluator.run(1, os.getpid)
        kill(killed)
        # The pool may learn that its process died only when the next call's work is lost with
        # it (answered 503, which clients retry); the call after that runs in a fresh pool.
        answers: list[int | None] = []
        for _ in range(2):
            try:
                answers.append(evaluator.run(1, os.getpid))
            except Unavailable:
                answers.append(None)
        assert answers[-1] not in (None, killed, os.getpid())
        assert answers.count(None) <= 1
    finally:
        evaluator.close()


def pool_processes(server_pid: int) -> list[int]:
    """The server's pool processes: forked by its forkserver, so its grandchildren."""
    return [worker for child in children(server_pid) for worker in children(child)]


def test_a_pool_process_killed_mid_request_fails_that_request_alone(
    tmp_path: Path, empty_db_url: str
) -> None:
    env = {"LRHUB_MAX_STEPS_PER_EPOCH": "1000000", "LRHUB_MAX_EVALUATION_COST": str(10**12)}
    with (
        running_server(tmp_path, database_url=empty_db_url, env=env) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        for job_id, spec in (("heavy", HEAVY_FORMULA), ("light", PLATEAU)):
            client.put(f"/v1/jobs/{job_id}", json={"spec": spec}).raise_for_status()
        decide_light = client.post("/v1/jobs/light/epochs/0", json={"metrics": {}})
        assert decide_light.status_code == 200
        assert children(server.process.pid) == []  # the pool starts lazily

        # A minute of evaluation: it cannot be over before the kill lands.
        answers: list[httpx.Response] = []
        heavy = {"metrics": {}, "steps_per_epoch": 1_000_000}
        request = threading.Thread(
            target=lambda: answers.append(client.post("/v1/jobs/heavy/epochs/0", json=heavy))
        )
        request.start()
        deadline = time.monotonic() + 60
        while not (workers := pool_processes(server.process.pid)):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.02)  # polling interval until the pool process exists
        (worker,) = workers
        assert worker != server.process.pid
        os.kill(worker, signal.SIGKILL)
        request.join(timeout=60)
        (killed,) = answers
        assert killed.status_code == 503, killed.text
        assert "process" in killed.json()["detail"]

        # The server goes on: another job, and the heavy job in a new pool process.
        decide_light = client.post("/v1/jobs/light/epochs/1", json={"metrics": observed(1)})
        assert decide_light.status_code == 200
        heavy = {"metrics": {}, "steps_per_epoch": 2000, "step_lists": True}
        answer = client.post("/v1/jobs/heavy/epochs/0", json=heavy)
        assert answer.status_code == 200, answer.text
        expected = answer_epoch(
            parse_spec(HEAVY_FORMULA),
            None,
            epoch=0,
            metrics={},
            steps_per_epoch=2000,
            clock_origin=0,
            settings=OperatorSettings(),
        )
        assert answer.json()["step_learning_rates"] == expected.answer.step_learning_rates
        assert pool_processes(server.process.pid) not in ([], [worker])
        history = client.get("/v1/jobs/heavy/epochs").json()["items"]
        assert [item["epoch"] for item in history] == [0]


@pytest.mark.parametrize("processes", ["0", "2"])
def test_the_pool_size_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    monkeypatch.setenv("LRHUB_EVALUATION_PROCESSES", processes)
    monkeypatch.setenv("LRHUB_PROCESS_EVALUATION_COST", "1234")
    evaluator = ServerSettings().evaluator()
    assert (evaluator.processes, evaluator.threshold) == (int(processes), 1234)
