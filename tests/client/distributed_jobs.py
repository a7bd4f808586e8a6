"""Training scripts run by `tests/client/test_distributed.py` under torchrun, two CPU ranks with
gloo on loopback: `python -m torch.distributed.run ... -m tests.client.distributed_jobs KIND
OUT_DIR JOB [FLAGS]`, with `LRHUB_URL` set. Each rank writes what it trained with to
`OUT_DIR/<rank>.json`: the rate at every optimizer step, the final weights, how many intervals
it trained.

Kinds: `torch` (DDP and `RemoteScheduler`) and `torch-own` (the same with torch's `StepLR`),
`accelerate` / `accelerate-own` (an `Accelerator` loop), `lightning` / `lightning-own`
(`Trainer(strategy="ddp", devices=2)`), `transformers` / `transformers-own` (`Trainer` on CPU).
Flags: `reduce` (`reduce_metrics=True`), `raise` (`on_error="raise"`), `stop-after=N` (rank 0
stops the job through the API after N intervals, as an operator would).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from lrhub.client import Client, JobPatch
from tests.client.teardown import leave

# The rate is halved every second interval (epoch, validation or evaluation): StepLR(2, 0.5).
STEP_DECAY = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
INTERVALS = 5
STEPS = 4  # optimizer steps per interval
BATCH = 4  # per rank


def data(rows: int, seed: int) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(rows, 4, generator=generator)
    return inputs, torch.tanh(inputs @ torch.randn(4, 1, generator=generator))


def tiny_model() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def weights(model: Any) -> list[list[float]]:
    return [parameter.detach().flatten().tolist() for parameter in model.parameters()]


def stop_job_after(interval: int, flags: dict[str, str], job: str) -> None:
    """An operator stopping the job after `interval` intervals (rank 0, before it asks)."""
    if dist.get_rank() == 0 and interval == int(flags.get("stop-after", "0")):
        with Client(os.environ["LRHUB_URL"]) as client:
            client.patch_job(job, JobPatch(status="stopped"))


def run_torch(job: str, flags: dict[str, str], own: bool) -> dict[str, Any]:
    from lrhub.client.torch import RemoteScheduler

    rank = dist.get_rank()
    model = torch.nn.parallel.DistributedDataParallel(tiny_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler: Any
    if own:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    else:
        scheduler = RemoteScheduler(
            optimizer, job=job, spec=STEP_DECAY, epochs=INTERVALS,
            reduce_metrics="reduce" in flags, on_error="raise" if "raise" in flags else "hold",
            client=Client(os.environ["LRHUB_URL"], max_retries=0),
        )  # fmt: skip
    inputs, targets = data(STEPS * BATCH * dist.get_world_size(), seed=1)
    # Each rank its own shard, as DistributedSampler gives it.
    inputs, targets = inputs[rank :: dist.get_world_size()], targets[rank :: dist.get_world_size()]
    rates: list[float] = []
    intervals = 0
    for _ in range(INTERVALS):
        for step in range(STEPS):
            rows = slice(step * BATCH, (step + 1) * BATCH)
            optimizer.zero_grad()
            loss: Any = torch.nn.functional.mse_loss(model(inputs[rows]), targets[rows])
            loss.backward()
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        intervals += 1
        stop_job_after(intervals, flags, job)
        with torch.no_grad():
            shard_loss = float(torch.nn.functional.mse_loss(model(inputs), targets))
        if own:
            scheduler.step()
        else:
            # `rank` tells the ranks' reports apart: rank 0's alone, or their mean.
            scheduler.step({"loss": shard_loss, "rank": float(rank)})
            if scheduler.should_stop:
                break
    return {"rates": rates, "weights": weights(model.module), "intervals": intervals}


def run_accelerate(job: str, flags: dict[str, str], own: bool) -> dict[str, Any]:
    from accelerate import Accelerator  # type: ignore[import-untyped]
    from torch.utils.data import DataLoader, TensorDataset

    from lrhub.client.torch import RemoteScheduler

    accelerator = Accelerator(cpu=True)
    inputs, targets = data(STEPS * BATCH * accelerator.num_processes, seed=1)
    untrained = tiny_model()
    model, optimizer, loader = accelerator.prepare(
        untrained,
        torch.optim.SGD(untrained.parameters(), lr=0.1, momentum=0.9),
        DataLoader(TensorDataset(inputs, targets), batch_size=BATCH),
    )
    # Stepped once per epoch by the loop itself (see the README on `accelerator.prepare`).
    scheduler: Any
    if own:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer.optimizer, step_size=2, gamma=0.5)
    else:
        scheduler = RemoteScheduler(
            optimizer, job=job, spec=STEP_DECAY, epochs=INTERVALS, reduce_metrics="reduce" in flags
        )
    rates: list[float] = []
    for _ in range(INTERVALS):
        for batch_inputs, batch_targets in loader:
            optimizer.zero_grad()
            loss: Any = torch.nn.functional.mse_loss(model(batch_inputs), batch_targets)
            accelerator.backward(loss)
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        if own:
            scheduler.step()
        else:
            scheduler.step({"loss": float(loss), "rank": float(accelerator.process_index)})
    return {
        "rates": rates,
        "weights": weights(accelerator.unwrap_model(model)),
        "intervals": INTERVALS,
    }


def run_lightning(job: str, flags: dict[str, str], own: bool) -> dict[str, Any]:
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lrhub.client.lightning import RemoteLearningRate

    class Regression(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_model()
            self.rates: list[float] = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            inputs, targets = batch
            self.rates.append(self.trainer.optimizers[0].param_groups[0]["lr"])
            return torch.nn.functional.mse_loss(self.net(inputs), targets)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            inputs, targets = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(inputs), targets))
            # Not synchronized: each rank logs its own, reported as rank 0's or averaged.
            self.log("rank", float(self.global_rank))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
            if not own:
                return optimizer
            return [optimizer], [torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.5)]

    callbacks: list[pl.Callback] = []
    if not own:
        callbacks.append(
            RemoteLearningRate(
                job=job, spec=STEP_DECAY, log_rate=False, reduce_metrics="reduce" in flags
            )
        )
    trainer = pl.Trainer(
        max_epochs=INTERVALS, accelerator="cpu", devices=2, strategy="ddp", logger=False,
        callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, num_sanity_val_steps=0,
    )  # fmt: skip
    inputs, targets = data(STEPS * BATCH * 2, seed=1)
    train = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH)
    val = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH * 2)
    module = Regression()
    trainer.fit(module, train, val)
    return {
        "rates": module.rates,
        "weights": weights(module.net),
        "intervals": trainer.current_epoch,
    }


def run_transformers(job: str, flags: dict[str, str], own: bool, out: Path) -> dict[str, Any]:
    from torch.utils.data import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lrhub.client.transformers import RemoteLearningRate

    inputs, targets = data(STEPS * BATCH * 2, seed=1)

    class Rows(Dataset[dict[str, Any]]):
        def __len__(self) -> int:
            return int(inputs.shape[0])

        def __getitem__(self, index: int) -> dict[str, Any]:
            return {"inputs": inputs[index], "labels": targets[index]}

    class Regression(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = tiny_model()

        def forward(self, inputs: Any, labels: Any) -> dict[str, Any]:
            return {"loss": torch.nn.functional.mse_loss(self.net(inputs), labels)}

    rates: list[float] = []

    class RecordRates(TrainerCallback):
        # After lrhub's callback has set the rate, just before the optimizer steps.
        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            rates.append(kw["optimizer"].param_groups[0]["lr"])

    model = Regression()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    callbacks: list[Any] = []
    scheduler = None
    if own:
        # Interval k of STEPS optimizer steps has rate 0.1 * 0.5 ** (k // 2), as STEP_DECAY.
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 ** ((step // STEPS) // 2)
        )
    else:
        callbacks.append(
            RemoteLearningRate(job=job, spec=STEP_DECAY, reduce_metrics="reduce" in flags)
        )
    arguments = TrainingArguments(
        output_dir=str(out / "trainer"), use_cpu=True, report_to=[], seed=0,
        eval_strategy="steps", eval_steps=STEPS, max_steps=STEPS * INTERVALS,
        per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
        learning_rate=0.1, lr_scheduler_type="constant", save_strategy="no",
        disable_tqdm=True, dataloader_drop_last=True,
    )  # fmt: skip
    trainer = Trainer(
        model=model, args=arguments, train_dataset=Rows(), eval_dataset=Rows(),
        callbacks=[*callbacks, RecordRates()], optimizers=(optimizer, scheduler),
    )  # fmt: skip
    trainer.train()
    return {
        "rates": rates,
        "weights": weights(model.net),
        "intervals": trainer.state.global_step // STEPS,
    }


def main() -> None:
    kind, out, job, *rest = sys.argv[1:]
    flags = dict(flag.partition("=")[::2] for flag in rest)
    if kind.startswith("lightning"):
        # Lightning initializes the process group itself from torchrun's environment.
        result = run_lightning(job, flags, own=kind.endswith("-own"))
        rank = int(os.environ["RANK"])
    else:
        if kind.startswith("torch"):
            dist.init_process_group("gloo")
            try:
                result = run_torch(job, flags, own=kind.endswith("-own"))
            except Exception as error:
                if "raise" not in flags:
                    raise
                # Written, not raised: torchrun would kill the other rank at the first failure.
                result = {"error": f"{type(error).__name__}: {error}"}
        elif kind.startswith("accelerate"):
            result = run_accelerate(job, flags, own=kind.endswith("-own"))
        else:
            result = run_transformers(job, flags, own=kind.endswith("-own"), out=Path(out))
        rank = dist.get_rank()
    (Path(out) / f"{rank}.json").write_text(json.dumps(result))
    if dist.is_initialized():
        # Every rank past its last collective first: gloo aborts a process that tears its group
        # down while a peer still receives (rank 0's broadcast of a failure, above all).
        dist.barrier()
        dist.destroy_process_group()
    # What is tested is written above; gloo can abort the interpreter's teardown (see teardown).
    leave()


if __name__ == "__main__":
    main()
