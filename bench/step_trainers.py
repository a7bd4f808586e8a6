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

Two model sizes: `tiny` (an optimizer step of about 0.25 ms for the MLP) and `small` (about
3 ms, a 1M-parameter MLP; a 2-layer BERT). An interval costs lrhub one round trip whatever the
model, so the ratio depends on how long a step takes. The run also measures the SQLite durable
floor's round trip (the no-op endpoint committing one INSERT) and reports each row's `floor
bound`: the ratio a remote run would reach if each of its round trips (the job, one decision
per interval, the end report and the status) cost only that floor. A target below the bound
cannot be met by any durable service over HTTP.

    python -m bench --only step_trainers [--quick]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.config import BenchConfig
from bench.latency import durable_floor_round_trip
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
# Round trips of a remote run besides its decisions: creating the job, the last interval's end
# report, the status at the end.
EXTRA_ROUND_TRIPS = 3


@dataclass(frozen=True)
class ModelSize:
    """The trained models: an MLP of `features` -> `hidden` -> 1 on batches of `batch` (torch,
    Lightning), a BERT of `bert_hidden` with `bert_layers` layers on `bert_tokens` tokens."""

    name: str
    features: int
    hidden: int
    batch: int
    bert_hidden: int
    bert_layers: int
    bert_tokens: int


MODELS = (
    ModelSize("tiny", features=64, hidden=128, batch=32, bert_hidden=16, bert_layers=1,
              bert_tokens=8),
    ModelSize("small", features=512, hidden=2048, batch=64, bert_hidden=64, bert_layers=2,
              bert_tokens=16),
)  # fmt: skip

# A training of STEPS optimizer steps, k steps per interval: local (None) or lrhub's job id.
Training = Callable[[int, str | None], TimedRun]


def _data(size: ModelSize) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(STEPS * size.batch, size.features, generator=generator)
    return inputs, inputs @ torch.randn(size.features, 1, generator=generator)


def _model(size: ModelSize) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(size.features, size.hidden), torch.nn.ReLU(),
        torch.nn.Linear(size.hidden, 1),
    )  # fmt: skip


def torch_training(client: Client, size: ModelSize) -> Training:
    """A plain loop: `OneCycleLR` stepped per batch, or `RemoteScheduler(per_step=True)`."""
    from lrhub.client.torch import RemoteScheduler

    inputs, targets = _data(size)
    batch = size.batch

    def train(every: int, job: str | None) -> TimedRun:
        model = _model(size)
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
            rows = slice(step * batch, (step + 1) * batch)
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


def lightning_training(client: Client, size: ModelSize) -> Training:
    """`Trainer.fit` validating every k batches: torch's `OneCycleLR` in the module's
    scheduler config (interval "step"), or lrhub's callback."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, TensorDataset

    from lrhub.client.lightning import RemoteLearningRate

    inputs, targets = _data(size)
    batch = size.batch
    train_loader = DataLoader(TensorDataset(inputs, targets), batch_size=batch)
    val_loader = DataLoader(TensorDataset(inputs[:batch], targets[:batch]), batch_size=batch)

    class Module(pl.LightningModule):
        def __init__(self, own: bool) -> None:
            super().__init__()
            self.net = _model(size)
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


def transformers_training(client: Client, size: ModelSize, workdir: Path) -> Training:
    """`Trainer.train` of a small BERT evaluating every k steps: the Trainer's own cosine
    scheduler with warm-up, or lrhub's callback with the same `transformers` spec."""
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    from lrhub.client.transformers import RemoteLearningRate

    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (STEPS * 4, size.bert_tokens), generator=generator)
    samples = [
        {"input_ids": row, "attention_mask": torch.ones_like(row), "labels": int(row[0]) % 2}
        for row in ids
    ]

    def train(every: int, job: str | None) -> TimedRun:
        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=50, hidden_size=size.bert_hidden, num_hidden_layers=size.bert_layers,
            num_attention_heads=2, intermediate_size=2 * size.bert_hidden,
            max_position_embeddings=size.bert_tokens,
        )  # fmt: skip
        own = job is None
        arguments = TrainingArguments(
            output_dir=str(workdir / f"hf-{size.name}"), use_cpu=True, report_to=[], seed=0,
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
    """Median remote/local ratios per model, framework and steps per interval, each with the
    bound the durable floor's round trip sets."""
    pairs = config.scaled(quick=1, full=3)
    torch.set_num_threads(1)
    results: dict[str, Any] = {
        "pairs": pairs, "steps": STEPS, "target_at_100": 1 + TARGET_AT_100,
        "models": [size.name for size in MODELS],
    }  # fmt: skip
    workdir = config.workdir / "step_trainers"
    with lrhub_server(workdir) as server, Client(server.url) as client:
        floor_seconds = [durable_floor_round_trip(workdir, server.url)]
        for size in MODELS:
            trainings = {
                "torch": torch_training(client, size),
                "lightning": lightning_training(client, size),
                "transformers": transformers_training(client, size, workdir),
            }
            results[size.name] = {
                framework: {f"every_{every}": _measured(train, every, framework, size, pairs)
                            for every in INTERVALS}
                for framework, train in trainings.items()
            }  # fmt: skip
        floor_seconds.append(durable_floor_round_trip(workdir, server.url))
    # The floor measured before and after the trainings (the machine may drift meanwhile).
    floor = statistics.mean(floor_seconds)
    results["floor_round_trip_ms"] = round(1000 * floor, 3)
    for size in MODELS:
        for framework in results[size.name].values():
            for key, figures in framework.items():
                round_trips = STEPS // int(key.removeprefix("every_")) + EXTRA_ROUND_TRIPS
                bound = 1 + round_trips * floor / figures["median_local_seconds"]
                figures["floor_bound"] = round(bound, 4)
    return results


def _measured(
    train: Training, every: int, framework: str, size: ModelSize, pairs: int
) -> dict[str, Any]:
    local, remote = _pair(train, every, f"{size.name}-{framework}")
    figures = paired_runs(local, remote, pairs, inside="scheduler")
    if every == 100:
        figures["target_met"] = figures["median_ratio"] <= 1 + TARGET_AT_100
    return figures


def _pair(
    train: Training, every: int, tag: str
) -> tuple[Callable[[int], TimedRun], Callable[[int], TimedRun]]:
    """The local and the remote training of one pair, each given the pair's index."""

    def local(_: int) -> TimedRun:
        return train(every, None)

    def remote(index: int) -> TimedRun:
        return train(every, f"{tag}-{every}-{index}")

    return local, remote
