"""The Lightning callback through a real `lrhub serve`: a real `Trainer.fit` on CPU validates
twice per epoch, the rate changes right after each validation to the service's decision, and
Lightning's own CSV log records the rates under LearningRateMonitor's name."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.loggers import CSVLogger  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from lrhub.client.lightning import RemoteLearningRate  # noqa: E402

pytestmark = [pytest.mark.torch]

BATCHES = 8  # per epoch; validation after batches 4 and 8
EPOCHS = 2
HALVING = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 1}


class Regression(pl.LightningModule):
    """A linear model; `configure_optimizers` returns only the optimizer, as the callback asks."""

    def __init__(self, with_scheduler: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.with_scheduler = with_scheduler

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        inputs, targets = batch
        loss = torch.nn.functional.mse_loss(self.net(inputs), targets)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(inputs), targets))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        if self.with_scheduler:
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)]
        return optimizer


def loaders() -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(BATCHES * 8, 4, generator=generator)
    targets = inputs @ torch.randn(4, 1, generator=generator) + 0.5
    train = DataLoader(TensorDataset(inputs, targets), batch_size=8)
    return train, DataLoader(TensorDataset(inputs[:16], targets[:16]), batch_size=8)


def trainer(
    tmp_path: Path, callback: RemoteLearningRate, max_epochs: int = EPOCHS, **kwargs: Any
) -> Any:
    return pl.Trainer(
        max_epochs=max_epochs, val_check_interval=0.5, log_every_n_steps=1,
        logger=CSVLogger(tmp_path / "logs"), callbacks=[callback], accelerator="cpu",
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        **kwargs,
    )  # fmt: skip


def logged(trainer: Any, column: str) -> list[tuple[int, float]]:
    """(step, value) of every row of Lightning's metrics.csv that has `column`."""
    with open(Path(trainer.logger.log_dir) / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return [(int(row["step"]), float(row[column])) for row in rows if row.get(column)]


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


def test_the_rate_changes_at_every_validation_to_the_services_and_lightning_logs_it(
    client: Client, tmp_path: Path
) -> None:
    callback = RemoteLearningRate(job="lightning", spec=HALVING, client=client)
    fit = trainer(tmp_path, callback)
    fit.fit(Regression(), *loaders())

    history = client.history("lightning").items
    validations = EPOCHS * 2
    # One decision per validation round (the sanity check's validation is not one), each
    # round's metrics reported; the last alone at the end.
    assert [entry.epoch for entry in history] == list(range(validations))
    assert all(entry.metrics and "val_loss" in entry.metrics for entry in history)
    val_losses = [value for _, value in logged(fit, "val_loss")]
    assert [entry.metrics["val_loss"] for entry in history if entry.metrics] == pytest.approx(
        val_losses
    )
    # Lightning's own log: the rate of every training step, changing right after a validation.
    rates = logged(fit, "lr-SGD")
    assert [step for step, _ in rates] == list(range(EPOCHS * BATCHES))
    per_round = BATCHES // 2
    expected = [float(np.float32(history[step // per_round].learning_rate)) for step, _ in rates]
    assert [rate for _, rate in rates] == expected
    assert len(set(expected)) == validations
    optimizer = fit.optimizers[0]
    assert optimizer.param_groups[0]["lr"] == history[-1].learning_rate
    assert client.get_job("lightning").status == "completed"


def test_a_service_change_reaches_the_next_validation_round(client: Client, tmp_path: Path) -> None:
    from lrhub.client import JobPatch

    class PinAfterFirstValidation(pl.Callback):
        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking and trainer.global_step == BATCHES // 2:
                client.patch_job("pinned", JobPatch(override=0.003))

    callback = RemoteLearningRate(job="pinned", spec=HALVING, client=client)
    fit = trainer(tmp_path, callback, max_epochs=1)
    fit.callbacks.insert(0, PinAfterFirstValidation())  # so the change comes before our decision
    fit.fit(Regression(), *loaders())
    rates = [rate for _, rate in logged(fit, "lr-SGD")]
    assert rates[: BATCHES // 2] == [float(np.float32(0.1))] * (BATCHES // 2)
    assert rates[BATCHES // 2 :] == [float(np.float32(0.003))] * (BATCHES // 2)


def test_a_module_that_configures_its_own_scheduler_is_refused(
    client: Client, tmp_path: Path
) -> None:
    callback = RemoteLearningRate(job="refused", spec=HALVING, client=client)
    with pytest.raises(ValueError, match="return only the optimizer"):
        trainer(tmp_path, callback).fit(Regression(with_scheduler=True), *loaders())


def test_a_fit_resumed_from_a_lightning_checkpoint_continues_the_job(
    client: Client, tmp_path: Path
) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    whole = trainer(
        tmp_path / "whole", RemoteLearningRate(job="whole", spec=HALVING, client=client)
    )
    whole.fit(Regression(), *loaders())

    saving = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    first = pl.Trainer(
        max_epochs=1, val_check_interval=0.5, log_every_n_steps=1, callbacks=[
            RemoteLearningRate(job="resumed", spec=HALVING, client=client), saving,
        ], logger=False, accelerator="cpu", enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    first.fit(Regression(), *loaders())
    # A new process: new module, trainer and callback, state from Lightning's checkpoint.
    resumed = trainer(
        tmp_path / "resumed", RemoteLearningRate(job="resumed", spec=HALVING, client=client)
    )
    resumed.fit(Regression(), *loaders(), ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"))

    def decided(job: str) -> list[tuple[int, float, dict[str, float] | None]]:
        return [(e.epoch, e.learning_rate, e.metrics) for e in client.history(job).items]

    assert decided("resumed") == decided("whole")
    assert [rate for _, rate in logged(resumed, "lr-SGD")] == [
        rate for step, rate in logged(whole, "lr-SGD") if step >= BATCHES
    ]
    assert client.get_job("resumed").status == "completed"
