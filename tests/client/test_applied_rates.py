"""Applied rates with the real frameworks against a real `lrhub serve`: every adapter reports what
its optimizer held when each interval ended; a plain fit has no drift, a rate overwritten by a
callback or by user code is drift at exactly the interval it happened in, and an outage under
`on_error="hold"` records the held rates."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess, start_server

torch = pytest.importorskip("torch")

from lrhub.client.torch import RemoteScheduler  # noqa: E402
from tests.client.test_torch_scheduler import (  # noqa: E402
    EPOCHS,
    MULTI_STEP,
    PROBE_EVERY_TIME,
    STEP_DECAY,
    Task,
    build_model,
    build_optimizer,
    train_epoch,
)

pytestmark = [pytest.mark.torch]

HALVING = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 1}


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


def drift_of(client: Client, job: str) -> list[bool | None]:
    return [entry.drift for entry in client.history(job).items]


def test_torch_a_plain_run_has_no_drift_and_reports_every_epoch(client: Client) -> None:
    model = build_model()
    optimizer = build_optimizer(model)
    scheduler = RemoteScheduler(optimizer, job="plain", spec=STEP_DECAY, epochs=6, client=client)
    task = Task.make()
    for _ in range(6):
        scheduler.step({"val_loss": train_epoch(model, optimizer, task, lambda: None)})
    history = client.history("plain").items
    assert drift_of(client, "plain") == [False] * 6
    assert [e.applied_learning_rate for e in history] == [e.learning_rate for e in history]


def test_torch_a_param_groups_edit_is_drift_at_exactly_its_epoch(client: Client) -> None:
    model = build_model()
    optimizer = build_optimizer(model)
    scheduler = RemoteScheduler(optimizer, job="edited", spec=STEP_DECAY, client=client)
    task = Task.make()
    batches = 0

    def edit_once() -> None:
        nonlocal batches
        batches += 1
        if batches == 3 * 4 + 2:  # epoch 3, after its second batch
            optimizer.param_groups[0]["lr"] = 0.5

    for _ in range(6):
        scheduler.step({"val_loss": train_epoch(model, optimizer, task, edit_once)})
    history = client.history("edited").items
    assert drift_of(client, "edited") == [False, False, False, True, False, False, None]
    assert history[3].applied_learning_rate == 0.5


def test_torch_an_outage_under_hold_records_the_held_rates(
    live_server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]
) -> None:
    client = Client(live_server.url, max_retries=0, timeout=2.0)
    model = build_model()
    optimizer = build_optimizer(model)
    scheduler = RemoteScheduler(
        optimizer, job="outage", spec=MULTI_STEP, client=client, breaker=PROBE_EVERY_TIME
    )
    task = Task.make()
    trained: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for epoch in range(EPOCHS):
            trained.append(optimizer.param_groups[0]["lr"])
            val_loss = train_epoch(model, optimizer, task, lambda: None)
            if epoch == 1:
                live_server.kill()  # epochs 2, 3, 4 cannot be reported
            if epoch == 4:
                restarted.append(start_server(tmp_path, port=live_server.port))
            scheduler.step({"val_loss": val_loss})
    history = client.history("outage").items
    # The history tells what trained: the held 0.1, not the schedule's 0.01 it decided later.
    assert [e.applied_learning_rate for e in history[:EPOCHS]] == trained
    assert trained[2:5] == [0.1, 0.1, 0.1]
    assert [e.learning_rate for e in history[2:5]] == pytest.approx([0.01] * 3, rel=1e-12)
    assert [e.drift for e in history] == [False, False, True, True, True, False, False, False, None]


def test_lightning_an_override_in_the_module_is_drift_at_its_interval(
    client: Client, tmp_path: Path
) -> None:
    pytest.importorskip("lightning")
    from lrhub.client.lightning import RemoteLearningRate
    from tests.client.test_lightning import Regression, loaders, trainer

    class Overriding(Regression):
        """Sets 0.5 for one optimizer step inside job epoch 2 (validation every 4 batches),
        after lrhub's callback set its rate for that step (a module's hooks run after the
        callbacks')."""

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            if self.global_step == 9:
                for group in optimizer.param_groups:
                    group["lr"] = 0.5

    plain = RemoteLearningRate(job="lightning-plain", spec=HALVING, client=client)
    trainer(tmp_path / "plain", plain).fit(Regression(), *loaders())
    assert drift_of(client, "lightning-plain") == [False] * 4
    callback = RemoteLearningRate(job="lightning-override", spec=HALVING, client=client)
    trainer(tmp_path / "override", callback).fit(Overriding(), *loaders())
    assert drift_of(client, "lightning-override") == [False, False, True, False]
    assert client.history("lightning-override").items[2].applied_learning_rate == 0.5


def test_transformers_another_callbacks_rate_is_drift_at_its_interval(
    client: Client, tmp_path: Path
) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from transformers import TrainerCallback

    from lrhub.client.transformers import RemoteLearningRate
    from tests.client.test_transformers import EVAL_STEPS, train
    from tests.client.test_transformers import HALVING as EVAL_HALVING

    class Overriding(TrainerCallback):
        """Sets 0.5 for one optimizer step inside the second interval (the Trainer's steps
        numbered from 0: step 5 is the second one after the evaluation at step 4), after
        lrhub's callback put its rate in place for that step."""

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == EVAL_STEPS + 1:
                for group in kwargs["optimizer"].param_groups:
                    group["lr"] = 0.5

    plain = RemoteLearningRate(job="hf-plain", spec=EVAL_HALVING, client=client)
    train(tmp_path / "plain", plain)
    assert drift_of(client, "hf-plain") == [False] * 3
    callback = RemoteLearningRate(job="hf-override", spec=EVAL_HALVING, client=client)
    train(tmp_path / "override", callback, extra_callbacks=[Overriding()])
    assert drift_of(client, "hf-override") == [False, True, False]
    assert client.history("hf-override").items[1].applied_learning_rate == 0.5
