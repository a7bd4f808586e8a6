"""A `RemoteScheduler` built while lrhub cannot answer: its construction makes one attempt per
call (no retry ladder), and a bare number given to `step()` is reported under the spec's
`monitor` once the service is back, even though the spec was unknown when training started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client
from lrhub.client.training import CircuitBreaker
from tests.support.server import ServerProcess, start_server
from tests.support.silent_service import SilentService

torch = pytest.importorskip("torch")

from lrhub.client.torch import RemoteScheduler  # noqa: E402

pytestmark = [pytest.mark.torch]

PLATEAU = {
    "type": "reduce_on_plateau", "semantics": "torch", "monitor": "val_loss", "mode": "min",
    "factor": 0.5, "patience": 0, "initial_learning_rate": 0.1,
}  # fmt: skip


def optimizer() -> Any:
    return torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)


def test_construction_against_a_silent_service_makes_one_attempt_and_holds(
    silent: SilentService,
) -> None:
    # Three retries configured: the training's later calls would use them, construction not.
    client = Client(f"http://127.0.0.1:{silent.port}", timeout=0.5, max_retries=3)
    with pytest.warns(RuntimeWarning, match="holding the current learning rate"):
        scheduler = RemoteScheduler(
            optimizer(), job="silent", spec=PLATEAU, client=client,
            breaker=CircuitBreaker(first_wait=60.0),
        )  # fmt: skip
    assert len(silent.accepted) == 1
    assert scheduler.get_last_lr() == [0.1]
    assert scheduler.client.retry.max_retries == 3  # the adapter's own client is unchanged


def test_a_bare_number_is_reported_under_the_monitor_learnt_after_the_outage(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    with Client(live_server.url) as setup:
        setup.put_job("made-by-operator", spec=PLATEAU)
    live_server.kill()
    client = Client(live_server.url, max_retries=0)
    with pytest.warns(RuntimeWarning, match="holding"):
        scheduler = RemoteScheduler(
            optimizer(), job="made-by-operator", client=client,
            breaker=CircuitBreaker(first_wait=0.0, max_wait=0.0),
        )  # fmt: skip
    scheduler.step(1.0)
    scheduler.step(2.0)  # worse: a plateau on val_loss halves the rate
    restarted = start_server(tmp_path, port=live_server.port)
    try:
        scheduler.step(3.0)
        history = client.history("made-by-operator").items
    finally:
        restarted.stop()
    assert [entry.input_metrics for entry in history] == [
        {},
        {"val_loss": 1.0},
        {"val_loss": 2.0},
        {"val_loss": 3.0},
    ]
    assert [entry.learning_rate for entry in history] == [0.1, 0.1, 0.05, 0.025]
    assert scheduler.get_last_lr() == [0.025]
