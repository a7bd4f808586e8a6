"""Specs counted in steps inside Lightning's and Transformers' trainers, through a real `lrhub
serve`: the rate changes at every optimizer step between two validations (evaluations), computed
on the client from one answer per interval, and each run ends with the weights of the same run
under the framework's own scheduler. An adapter that cannot apply such a spec says so when
training starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import lightning.pytorch as pl  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from transformers import Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from lrhub.client import lightning as lrhub_lightning  # noqa: E402
from lrhub.client import transformers as lrhub_transformers  # noqa: E402
from lrhub.client.torch import RemoteScheduler  # noqa: E402
from tests.client.test_transformers import Sequences, tiny_bert  # noqa: E402

pytestmark = [pytest.mark.torch]

# Transformers: an evaluation every 4 optimizer steps, 12 steps in all.
EVAL_STEPS = 4
EVALUATIONS = 3
WARMUP_COSINE = {
    "type": "transformers", "scheduler": "cosine", "learning_rate": 0.01,
    "num_warmup_steps": 3, "num_training_steps": EVAL_STEPS * EVALUATIONS,
}  # fmt: skip

# Lightning: 8 batches per epoch, validated twice per epoch, 2 epochs: 16 optimizer steps.
BATCHES = 8
EPOCHS = 2
ONE_CYCLE = {
    "type": "one_cycle", "unit": "step", "max_learning_rate": 0.1, "total_steps": BATCHES * EPOCHS,
}  # fmt: skip


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


# -- Transformers ---------------------------------------------------------------------------------


def hf_train(
    tmp_path: Path, callbacks: list[Any], resume: str | None = None, **overrides: Any
) -> Any:
    arguments = {
        "output_dir": str(tmp_path / "out"), "use_cpu": True, "report_to": [], "seed": 0,
        "eval_strategy": "steps", "eval_steps": EVAL_STEPS, "logging_steps": 1,
        "max_steps": EVAL_STEPS * EVALUATIONS, "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 8, "learning_rate": 0.01, "save_strategy": "no",
        "disable_tqdm": True, **overrides,
    }  # fmt: skip
    trainer = Trainer(
        model=tiny_bert(),
        args=TrainingArguments(**arguments),
        train_dataset=Sequences(64, seed=1),
        eval_dataset=Sequences(16, seed=2),
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer


class RatesSeen:
    """Every optimizer step's rate, read from the optimizer just before it steps."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def transformers_callback(self) -> Any:
        seen = self

        class Seen(TrainerCallback):
            def on_pre_optimizer_step(
                self, args: Any, state: Any, control: Any, **kwargs: Any
            ) -> None:
                seen.rates.append(float(kwargs["optimizer"].param_groups[0]["lr"]))

        return Seen()


def test_a_warmup_cosine_per_step_inside_the_trainer_ends_with_its_own_schedulers_weights(
    client: Client, tmp_path: Path
) -> None:
    own = RatesSeen()
    reference = hf_train(
        tmp_path / "own", [own.transformers_callback()], lr_scheduler_type="cosine",
        warmup_steps=WARMUP_COSINE["num_warmup_steps"],
    )  # fmt: skip
    remote = RatesSeen()
    callback = lrhub_transformers.RemoteLearningRate(
        job="hf-cosine", spec=WARMUP_COSINE, client=client
    )
    trained = hf_train(
        tmp_path / "lrhub", [callback, remote.transformers_callback()],
        lr_scheduler_type="constant",
    )  # fmt: skip

    # Every optimizer step had the Trainer's own scheduler's rate, and the weights agree.
    assert remote.rates == own.rates
    assert len(set(own.rates)) == EVAL_STEPS * EVALUATIONS
    for mine, theirs in zip(trained.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    # One decision per evaluation interval, each of EVAL_STEPS steps.
    history = client.history("hf-cosine").items
    assert [entry.epoch for entry in history] == list(range(EVALUATIONS))
    assert all(entry.step_learning_rates is not None for entry in history)
    assert [rate for entry in history for rate in entry.step_learning_rates or []] == own.rates
    assert client.get_job("hf-cosine").status == "completed"


@pytest.mark.parametrize("strategy", ["epoch", "no"])
def test_evaluations_per_epoch_or_none_give_the_intervals_of_the_trainers_own_schedule(
    client: Client, tmp_path: Path, strategy: str
) -> None:
    # 64 samples in batches of 4: 16 optimizer steps per epoch, 2 epochs.
    spec = {**WARMUP_COSINE, "num_training_steps": 32}
    settings: dict[str, Any] = {"eval_strategy": strategy, "max_steps": -1, "num_train_epochs": 2}
    own = RatesSeen()
    reference = hf_train(
        tmp_path / "own", [own.transformers_callback()], lr_scheduler_type="cosine",
        warmup_steps=spec["num_warmup_steps"], **settings,
    )  # fmt: skip
    remote = RatesSeen()
    job = f"hf-{strategy}"
    callback = lrhub_transformers.RemoteLearningRate(job=job, spec=spec, client=client)
    trained = hf_train(
        tmp_path / "lrhub", [callback, remote.transformers_callback()],
        lr_scheduler_type="constant", **settings,
    )  # fmt: skip
    assert len(own.rates) == 32 and remote.rates == own.rates
    for mine, theirs in zip(trained.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    history = client.history(job).items
    assert [len(entry.step_learning_rates or []) for entry in history] == (
        [16, 16] if strategy == "epoch" else [32]
    )


class StopAt(TrainerCallback):
    """Ends training after optimizer step `step` (after its evaluation and checkpoint)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            control.should_training_stop = True


def interrupted_and_resumed(
    tmp_path: Path, callbacks: list[Any], **overrides: Any
) -> tuple[Any, RatesSeen]:
    """Train to step 8 with a checkpoint every 4 steps, then train again from checkpoint-8 to
    the end in a new Trainer: the resumed run and the rates of its steps."""
    saving = {"save_strategy": "steps", "save_steps": EVAL_STEPS, **overrides}
    hf_train(tmp_path, [*callbacks, StopAt(2 * EVAL_STEPS)], **saving)
    seen = RatesSeen()
    checkpoint = tmp_path / "out" / f"checkpoint-{2 * EVAL_STEPS}"
    resumed = hf_train(
        tmp_path, [*callbacks, seen.transformers_callback()], resume=str(checkpoint), **saving
    )
    return resumed, seen


def test_resume_from_checkpoint_continues_the_job_as_the_trainers_own_scheduler_does(
    client: Client, tmp_path: Path
) -> None:
    reference, own = interrupted_and_resumed(
        tmp_path / "own", [], lr_scheduler_type="cosine",
        warmup_steps=WARMUP_COSINE["num_warmup_steps"],
    )  # fmt: skip
    callback = lrhub_transformers.RemoteLearningRate(
        job="hf-resume", spec=WARMUP_COSINE, client=client
    )
    resumed, remote = interrupted_and_resumed(
        tmp_path / "lrhub", [callback], lr_scheduler_type="constant"
    )

    assert len(own.rates) == EVAL_STEPS  # steps 9 to 12
    assert remote.rates == own.rates
    for mine, theirs in zip(resumed.model.parameters(), reference.model.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    # The job went on: no decision superseded, one per evaluation interval.
    history = client.history("hf-resume", superseded=True).items
    assert [(entry.epoch, entry.superseded) for entry in history] == [
        (epoch, False) for epoch in range(EVALUATIONS)
    ]
    assert client.get_job("hf-resume").status == "completed"


# -- Lightning ------------------------------------------------------------------------------------


class Regression(pl.LightningModule):
    """A linear model under SGD with momentum; optionally torch's own OneCycleLR per step."""

    def __init__(self, own_scheduler: bool = False, total_steps: int = BATCHES * EPOCHS) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.own_scheduler = own_scheduler
        self.total_steps = total_steps
        self.rates: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        inputs, targets = batch
        return torch.nn.functional.mse_loss(self.net(inputs), targets)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        inputs, targets = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(inputs), targets))

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        # Lightning calls the module's hook after the callbacks': the rate this step uses.
        self.rates.append(float(optimizer.param_groups[0]["lr"]))

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        if not self.own_scheduler:
            return optimizer
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=0.1, total_steps=self.total_steps
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def loaders() -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(BATCHES * 8, 4, generator=generator)
    targets = inputs @ torch.randn(4, 1, generator=generator) + 0.5
    train = DataLoader(TensorDataset(inputs, targets), batch_size=8)
    return train, DataLoader(TensorDataset(inputs[:16], targets[:16]), batch_size=8)


def fit(tmp_path: Path, module: Any, callbacks: list[Any], **options: Any) -> Any:
    trainer = pl.Trainer(
        max_epochs=EPOCHS, val_check_interval=0.5, logger=False, callbacks=callbacks,
        accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, default_root_dir=tmp_path, **options,
    )  # fmt: skip
    trainer.fit(module, *loaders())
    return trainer


# Without the sanity check, the validation loader is not loaded yet when training starts.
@pytest.mark.parametrize("sanity_steps", [2, 0])
def test_one_cycle_per_step_inside_lightning_ends_with_torchs_own_weights(
    client: Client, tmp_path: Path, sanity_steps: int
) -> None:
    reference = Regression(own_scheduler=True)
    fit(tmp_path / "own", reference, [], num_sanity_val_steps=sanity_steps)
    remote = Regression()
    job = f"pl-cycle-{sanity_steps}"
    callback = lrhub_lightning.RemoteLearningRate(job=job, spec=ONE_CYCLE, client=client)
    fit(tmp_path / "lrhub", remote, [callback], num_sanity_val_steps=sanity_steps)

    assert remote.rates == reference.rates
    assert len(remote.rates) == BATCHES * EPOCHS
    assert torch.equal(remote.net.weight, reference.net.weight)
    assert torch.equal(remote.net.bias, reference.net.bias)
    # One decision per validation interval (4 of them, 4 steps each).
    history = client.history(job).items
    assert [entry.epoch for entry in history] == list(range(EPOCHS * 2))
    assert [len(entry.step_learning_rates or []) for entry in history] == [BATCHES // 2] * 4


def test_with_gradient_accumulation_an_interval_counts_optimizer_steps(
    client: Client, tmp_path: Path
) -> None:
    steps = BATCHES * EPOCHS // 2  # two batches per optimizer step
    reference = Regression(own_scheduler=True, total_steps=steps)
    fit(tmp_path / "own", reference, [], accumulate_grad_batches=2)
    remote = Regression()
    spec = {**ONE_CYCLE, "total_steps": steps}
    callback = lrhub_lightning.RemoteLearningRate(job="pl-accumulate", spec=spec, client=client)
    fit(tmp_path / "lrhub", remote, [callback], accumulate_grad_batches=2)
    assert len(remote.rates) == steps and remote.rates == reference.rates
    assert torch.equal(remote.net.weight, reference.net.weight)
    history = client.history("pl-accumulate").items
    assert [len(entry.step_learning_rates or []) for entry in history] == [2] * 4


def fit_in_two(tmp_path: Path, module_of: Any, callback_of: Any) -> Any:
    """One epoch with a checkpoint at its end, then a new module, trainer and callback fit the
    second epoch from that checkpoint (`ckpt_path`): the resumed module."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    saving = ModelCheckpoint(dirpath=tmp_path / "checkpoints", save_last=True)
    first = pl.Trainer(
        max_epochs=1, val_check_interval=0.5, logger=False, accelerator="cpu",
        callbacks=[*callback_of(), saving], enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    first.fit(module_of(), *loaders())
    resumed = module_of()
    second = pl.Trainer(
        max_epochs=EPOCHS, val_check_interval=0.5, logger=False, accelerator="cpu",
        callbacks=callback_of(), enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False,
    )  # fmt: skip
    second.fit(resumed, *loaders(), ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"))
    return resumed


def test_a_lightning_fit_resumed_from_its_checkpoint_goes_on_as_torchs_own_scheduler(
    client: Client, tmp_path: Path
) -> None:
    reference = fit_in_two(tmp_path / "own", lambda: Regression(own_scheduler=True), list)
    remote = fit_in_two(
        tmp_path / "lrhub",
        Regression,
        lambda: [
            lrhub_lightning.RemoteLearningRate(job="pl-resume", spec=ONE_CYCLE, client=client)
        ],
    )
    assert len(remote.rates) == BATCHES  # the second epoch's steps
    assert remote.rates == reference.rates
    assert torch.equal(remote.net.weight, reference.net.weight)
    history = client.history("pl-resume", superseded=True).items
    assert [(entry.epoch, entry.superseded) for entry in history] == [
        (epoch, False) for epoch in range(EPOCHS * 2)
    ]
    assert client.get_job("pl-resume").status == "completed"


# -- what crosses the wire, and what an adapter cannot apply ------------------------------------


def test_a_decision_carries_the_inputs_of_its_step_rates_not_the_rates(
    live_server: ServerProcess, client: Client
) -> None:
    client.put_job("wire", spec=ONE_CYCLE)
    raw = httpx.post(
        f"{live_server.url}/v1/jobs/wire/epochs/0", json={"metrics": {}, "steps_per_epoch": 1000}
    ).json()
    assert raw["step_learning_rates"] is None and raw["step_momentums"] is None
    assert raw["steps"]["steps_per_epoch"] == 1000
    # The client computes them from `steps`, as the service's history derives them.
    answer = client.decide("wire", 0, metrics={}, steps_per_epoch=1000)
    history = client.history("wire").items
    assert answer.step_learning_rates == history[0].step_learning_rates
    assert answer.step_momentums == history[0].step_momentums
    assert answer.step_learning_rates is not None and len(answer.step_learning_rates) == 1000
    # On request, the lists as before.
    listed = httpx.post(
        f"{live_server.url}/v1/jobs/wire/epochs/0",
        json={"metrics": {}, "steps_per_epoch": 1000, "step_lists": True},
    ).json()
    assert listed["step_learning_rates"] == answer.step_learning_rates


def test_a_step_spec_without_per_step_is_refused_when_training_starts(client: Client) -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="per_step=True"):
        RemoteScheduler(optimizer, job="no-steps", spec=ONE_CYCLE, client=client)
    assert client.get_job("no-steps").status == "failed"
    assert client.history("no-steps").items == []
