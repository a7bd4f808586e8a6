"""Per-step overhead of step-counted specs inside torch, Lightning and Transformers training,
against each framework's own per-step scheduler, at 10, 100 and 1,000 steps per interval.

The same one-cycle (torch, Lightning: `OneCycleLR`) or warm-up + cosine (Transformers:
`get_scheduler("cosine")`) schedule, per optimizer step, for `STEPS` optimizer steps of a small
CPU model. With lrhub an interval of k steps costs one decision; its k rates are computed on the
client from the answer (`lrhub.schedules.interval_steps`). Intervals are epochs of k batches
(torch), validations every k batches (Lightning) and evaluations every k steps (Transformers);
the local runs validate or evaluate as often, so only the schedule differs. Each pair runs both
trainings back to back in alternating order after a warm-up pair; the figure is the median of
the pairs' remote/local ratios.

    python -m bench --only step_trainers [--quick]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from bench.config import BenchConfig
from bench.servers import lrhub_server
from bench.stats import TimedRun, paired_runs
from lrhub.client import Client

STEPS = 1000
INTERVALS = (10, 100, 1000)
TARGET_AT_100 = 0.05
MAX_LR = 0.05
ONE_CYCLE = {"type": "one_cycle", "unit": "step", "max_learning_rate": MAX_LR, "total_steps": STEPS}
WARMUP_COSINE: dict[str, Any] = {
    "type": "transformers", "scheduler": "cosine", "learning_rate": MAX_LR,
    "num_warmup_steps": STEPS // 10, "num_training_steps": STEPS,
}  # fmt: skip
FEATURES = 64
BATCH = 32

# A training of STEPS optimizer steps, k steps per interval: local (None) or lrhub's job id.
Training = Callable[[int, str | None], TimedRun]


def _data(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(rows, FEATURES, generator=generator)
    return inputs, inputs @ torch.randn(FEATURES, 1, generator=generator)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1)
    )


def torch_training(client: Client) -> Training:
    """A plain loop: `OneCycleLR` stepped per batch, or `RemoteScheduler(per_step=True)`."""
    from lrhub.client.torch import RemoteScheduler

    inputs, targets = _data(STEPS * BATCH)

    def train(every: int, job: str | None) -> TimedRun:
        model = _model()
        optimizer = torch.optim.SGD(model.parameters(), lr=MAX_LR, momentum=0.9)
        started = time.perf_counter()
        scheduler: Any
        if job is None:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=MAX_LR, total_steps=STEPS
            )
        else:
            scheduler = RemoteScheduler(
                optimizer, job=job, spec=ONE_CYCLE, per_step=True, steps_per_epoch=every,
                epochs=STEPS // every, client=client,
            )  # fmt: skip
        inside = time.perf_counter() - started
        for step in range(STEPS):
            rows = slice(step * BATCH, (step + 1) * BATCH)
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(inputs[rows]), targets[rows])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            stepped = time.perf_counter()
            if job is None or (step + 1) % every:
                scheduler.step()
            else:
                scheduler.step({"val_loss": 1.0})
            inside += time.perf_counter() - stepped
        seconds = time.perf_counter() - started
        return TimedRun(seconds, inside, float(optimizer.param_groups[0]["lr"]))

    return train


def lightning_training(client: Client) -> Training:
    """`Trainer.fit` validating every k batches: torch's `OneCycleLR` in the module's
    scheduler config (interval "step"), or lrhub's callback."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lrhub.client.lightning import RemoteLearningRate

    inputs, targets = _data(STEPS * BATCH)
    train_loader = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH)
    val_loader = DataLoader(TensorDataset(inputs[:BATCH], targets[:BATCH]), batch_size=BATCH)

    class Module(pl.LightningModule):
        def __init__(self, own: bool) -> None:
            super().__init__()
            self.net = _model()
            self.own = own

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=MAX_LR, momentum=0.9)
            if not self.own:
                return optimizer
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=MAX_LR, total_steps=STEPS
            )
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }

    def train(every: int, job: str | None) -> TimedRun:
        callbacks: list[Any] = (
            []
            if job is None
            else [RemoteLearningRate(job=job, spec=ONE_CYCLE, client=client, log_rate=False)]
        )
        module = Module(own=job is None)
        trainer = pl.Trainer(
            max_epochs=1, val_check_interval=every, num_sanity_val_steps=0, logger=False,
            callbacks=callbacks, accelerator="cpu", enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=False,
        )  # fmt: skip
        started = time.perf_counter()
        trainer.fit(module, train_loader, val_loader)
        seconds = time.perf_counter() - started
        return TimedRun(seconds, 0.0, float(trainer.optimizers[0].param_groups[0]["lr"]))

    return train


def transformers_training(client: Client, workdir: Any) -> Training:
    """`Trainer.train` of a tiny BERT evaluating every k steps: the Trainer's own cosine
    scheduler with warm-up, or lrhub's callback with the same `transformers` spec."""
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    from lrhub.client.transformers import RemoteLearningRate

    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (STEPS * 4, 8), generator=generator)
    samples = [
        {"input_ids": row, "attention_mask": torch.ones_like(row), "labels": int(row[0]) % 2}
        for row in ids
    ]

    def train(every: int, job: str | None) -> TimedRun:
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=16,
        )  # fmt: skip
        own = job is None
        arguments = TrainingArguments(
            output_dir=str(workdir / "hf"), use_cpu=True, report_to=[], seed=0,
            eval_strategy="steps", eval_steps=every, logging_steps=every, max_steps=STEPS,
            per_device_train_batch_size=4, per_device_eval_batch_size=4, learning_rate=MAX_LR,
            lr_scheduler_type="cosine" if own else "constant",
            warmup_steps=WARMUP_COSINE["num_warmup_steps"] if own else 0,
            save_strategy="no", disable_tqdm=True,
        )  # fmt: skip
        callbacks: list[Any] = (
            [] if own else [RemoteLearningRate(job=job, spec=WARMUP_COSINE, client=client)]
        )
        trainer = Trainer(
            model=BertForSequenceClassification(config), args=arguments,
            train_dataset=samples, eval_dataset=samples[:4], callbacks=callbacks,
        )  # fmt: skip
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        assert trainer.optimizer is not None
        return TimedRun(seconds, 0.0, float(trainer.optimizer.param_groups[0]["lr"]))

    return train


def run(config: BenchConfig) -> dict[str, Any]:
    """Median remote/local ratios per framework and steps per interval."""
    pairs = config.scaled(quick=1, full=3)
    torch.set_num_threads(1)
    results: dict[str, Any] = {"pairs": pairs, "steps": STEPS, "target_at_100": 1 + TARGET_AT_100}
    workdir = config.workdir / "step_trainers"
    with lrhub_server(workdir) as server, Client(server.url) as client:
        trainings = {
            "torch": torch_training(client),
            "lightning": lightning_training(client),
            "transformers": transformers_training(client, workdir),
        }
        for framework, train in trainings.items():
            results[framework] = {}
            for every in INTERVALS:
                local, remote = _pair(train, every, framework)
                figures = paired_runs(local, remote, pairs, inside="scheduler")
                if every == 100:
                    figures["target_met"] = figures["median_ratio"] <= 1 + TARGET_AT_100
                results[framework][f"every_{every}"] = figures
    return results


def _pair(
    train: Training, every: int, framework: str
) -> tuple[Callable[[int], TimedRun], Callable[[int], TimedRun]]:
    """The local and the remote training of one pair, each given the pair's index."""

    def local(_: int) -> TimedRun:
        return train(every, None)

    def remote(index: int) -> TimedRun:
        return train(every, f"{framework}-{every}-{index}")

    return local, remote
