"""Scheduled momentum (beta1) through the Lightning and Transformers callbacks: a `one_cycle`
spec with torch's default momentum cycling trains exactly like torch's own `OneCycleLR` stepped
by the framework at the same points, on SGD and on Adam."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import lightning.pytorch as pl  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from lrhub.client.lightning import RemoteLearningRate as LightningRate  # noqa: E402
from lrhub.client.transformers import RemoteLearningRate as TransformersRate  # noqa: E402
from tests.client.test_lightning import Regression, loaders  # noqa: E402
from tests.client.test_transformers import Sequences, tiny_bert  # noqa: E402

pytestmark = [pytest.mark.torch]

ROUNDS = 8  # one_cycle's length in decisions (validations / evaluations)
MAX_RATE = 0.05
ONE_CYCLE = {"type": "one_cycle", "max_learning_rate": MAX_RATE, "total_steps": ROUNDS}

Optimizer = Callable[[Any], Any]
OPTIMIZERS = [
    pytest.param(lambda params: torch.optim.SGD(params, lr=MAX_RATE, momentum=0.9), id="SGD"),
    pytest.param(lambda params: torch.optim.Adam(params, lr=MAX_RATE), id="Adam"),
]


def one_cycle(optimizer: Any) -> Any:
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_RATE, total_steps=ROUNDS)


def torch_sequence(rounds: int) -> tuple[list[float], list[float]]:
    """The rate and momentum torch's OneCycleLR gives for each of the first `rounds` rounds."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=MAX_RATE, momentum=0.9)
    scheduler = one_cycle(optimizer)
    rates, momentums = [], []
    for _ in range(rounds):
        rates.append(optimizer.param_groups[0]["lr"])
        momentums.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return rates, momentums


def assert_history_is_torchs(client: Client, job: str, rounds: int) -> None:
    """The job decided each round's rate and momentum as OneCycleLR gives them (the last
    round's end is reported without a decision, so the framework's scheduler steps once more)."""
    history = client.history(job).items
    rates, momentums = torch_sequence(rounds)
    assert [entry.epoch for entry in history] == list(range(rounds))
    assert [entry.learning_rate for entry in history] == pytest.approx(rates, rel=1e-12)
    assert [entry.momentum for entry in history] == pytest.approx(momentums, rel=1e-12)


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


class Cycled(Regression):
    """The Lightning regression with the optimizer under test, and with torch's OneCycleLR
    stepped every `every` optimizer steps when `every` is given (the reference)."""

    def __init__(self, optimizer: Optimizer, every: int | None = None) -> None:
        super().__init__()
        self.make_optimizer = optimizer
        self.every = every

    def configure_optimizers(self) -> Any:
        optimizer = self.make_optimizer(self.parameters())
        if self.every is None:
            return optimizer
        scheduler = {"scheduler": one_cycle(optimizer), "interval": "step", "frequency": self.every}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def lightning_fit(tmp_path: Path, module: Cycled, callbacks: list[Any]) -> Any:
    trainer = pl.Trainer(
        max_epochs=2, val_check_interval=0.5, logger=False, callbacks=callbacks,
        accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, *loaders())
    return trainer


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_lightning_momentum_matches_torch_one_cycle(
    client: Client, tmp_path: Path, optimizer: Optimizer
) -> None:
    reference = Cycled(optimizer, every=4)  # validation every 4 batches: val_check_interval=0.5
    theirs = lightning_fit(tmp_path / "torch", reference, [])
    ours_module = Cycled(optimizer)
    callback = LightningRate(job="lightning-momentum", spec=ONE_CYCLE, client=client)
    ours = lightning_fit(tmp_path / "lrhub", ours_module, [callback])

    assert ours.global_step == theirs.global_step == 16
    assert_history_is_torchs(client, "lightning-momentum", 4)
    for mine, torchs in zip(ours_module.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(mine, torchs, rtol=1e-6, atol=0)


def transformers_train(
    tmp_path: Path, scheduler: Callable[[Any], Any], callbacks: list[Any]
) -> Any:
    model = tiny_bert()
    optimizer = torch.optim.AdamW(model.parameters(), lr=MAX_RATE)
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], seed=0,
        eval_strategy="steps", eval_steps=1, logging_steps=1, max_steps=ROUNDS - 2,
        per_device_train_batch_size=4, per_device_eval_batch_size=8, save_strategy="no",
        disable_tqdm=True,
    )  # fmt: skip
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=Sequences(64, seed=1),
        eval_dataset=Sequences(16, seed=2),
        callbacks=callbacks,
        optimizers=(optimizer, scheduler(optimizer)),
    )
    trainer.train()
    return trainer


def test_transformers_momentum_matches_torch_one_cycle(client: Client, tmp_path: Path) -> None:
    theirs = transformers_train(tmp_path / "torch", one_cycle, [])
    callback = TransformersRate(job="trainer-momentum", spec=ONE_CYCLE, client=client)
    constant = lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)  # noqa: E731
    ours = transformers_train(tmp_path / "lrhub", constant, [callback])

    assert_history_is_torchs(client, "trainer-momentum", ROUNDS - 2)
    for mine, torchs in zip(ours.model.parameters(), theirs.model.parameters(), strict=True):
        torch.testing.assert_close(mine, torchs, rtol=1e-6, atol=1e-9)
