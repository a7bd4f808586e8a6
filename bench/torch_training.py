"""Training overhead of `lrhub.client.torch.RemoteScheduler` against torch's own schedulers.

Epoch mode: `RemoteScheduler` against `torch.optim.lr_scheduler.StepLR` with the same schedule
(target: within 3%). Step mode: `RemoteScheduler(per_step=True)` against `OneCycleLR` (target:
within 5%, as for Keras). A seeded CPU training of a small MLP on synthetic data (10 epochs of
100 batches of 128); each pair runs both trainings back to back in alternating order, and the
figure is the median of the pairs' ratios. Only the training loop is timed (the remote
scheduler's construction, which registers the job, included); the schedulers' own calls are
also timed inside each training, which the noise between trainings does not touch.

    python -m bench --only torch_training [--quick]
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
from lrhub.client.torch import RemoteScheduler

EPOCHS = 10
BATCHES = 100
BATCH_SIZE = 128
FEATURES = 256
EPOCH_TARGET = 0.03
STEP_TARGET = 0.05
STEP_SPEC = {"type": "step_decay", "initial_learning_rate": 0.05, "drop": 0.5, "every": 5}
ONE_CYCLE_SPEC = {
    "type": "one_cycle", "unit": "step", "max_learning_rate": 0.05,
    "total_steps": EPOCHS * BATCHES,
}  # fmt: skip

# A scheduler for an optimizer, and whether it is stepped after every batch.
SchedulerOf = Callable[[torch.optim.Optimizer], Any]


def data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    inputs = torch.randn(BATCHES * BATCH_SIZE, FEATURES, generator=generator)
    targets = torch.randint(0, 10, (BATCHES * BATCH_SIZE,), generator=generator)
    return inputs, targets


def build() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
        torch.nn.ReLU(), torch.nn.Linear(512, 10),
    )  # fmt: skip
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def timed_training(
    scheduler_of: SchedulerOf, per_step: bool, batches: tuple[torch.Tensor, torch.Tensor]
) -> TimedRun:
    """Seconds of the whole training, seconds inside the scheduler, and the final rate."""
    inputs, targets = batches
    model, optimizer = build()
    loss_fn = torch.nn.CrossEntropyLoss()
    in_scheduler = 0.0
    started = time.perf_counter()
    scheduler = scheduler_of(optimizer)
    in_scheduler += time.perf_counter() - started
    for _ in range(EPOCHS):
        for batch in range(BATCHES):
            rows = slice(batch * BATCH_SIZE, (batch + 1) * BATCH_SIZE)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs[rows]), targets[rows])
            loss.backward()
            optimizer.step()
            if per_step:
                stepped = time.perf_counter()
                scheduler.step()
                in_scheduler += time.perf_counter() - stepped
        if not per_step:
            stepped = time.perf_counter()
            scheduler.step()
            in_scheduler += time.perf_counter() - stepped
    seconds = time.perf_counter() - started
    return TimedRun(seconds, in_scheduler, float(optimizer.param_groups[0]["lr"]))


def paired_trainings(
    local: SchedulerOf, remote: Callable[[int], SchedulerOf], per_step: bool, pairs: int
) -> dict[str, Any]:
    """`pairs` (local, remote) trainings in alternating order after one warm-up pair."""
    batches = data()
    return paired_runs(
        lambda _: timed_training(local, per_step, batches),
        lambda index: timed_training(remote(index), per_step, batches),
        pairs,
        inside="scheduler",
    )


def run(config: BenchConfig) -> dict[str, Any]:
    """Epoch-mode and step-mode overhead of RemoteScheduler, as median pair ratios."""
    pairs = config.scaled(quick=1, full=5)
    # Both sides on one intra-op thread: the server shares the machine's cores.
    torch.set_num_threads(1)
    with lrhub_server(config.workdir / "torch_training") as server, Client(server.url) as client:

        def epoch_remote(index: int) -> SchedulerOf:
            return lambda optimizer: RemoteScheduler(
                optimizer,
                job=f"torch-epoch-{index}",
                spec=STEP_SPEC,
                epochs=EPOCHS,
                client=client,
            )

        def step_remote(index: int) -> SchedulerOf:
            return lambda optimizer: RemoteScheduler(
                optimizer, job=f"torch-step-{index}", spec=ONE_CYCLE_SPEC, per_step=True,
                steps_per_epoch=BATCHES, epochs=EPOCHS, client=client,
            )  # fmt: skip

        epoch_mode = paired_trainings(
            lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5),
            epoch_remote,
            per_step=False,
            pairs=pairs,
        )
        step_mode = paired_trainings(
            lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=0.05, total_steps=EPOCHS * BATCHES, cycle_momentum=False
            ),
            step_remote,
            per_step=True,
            pairs=pairs,
        )
    for mode, target in ((epoch_mode, EPOCH_TARGET), (step_mode, STEP_TARGET)):
        mode["target"] = 1 + target
        mode["target_met"] = mode["median_ratio"] <= 1 + target
    return {
        "pairs": pairs,
        "epochs": EPOCHS,
        "batches_per_epoch": BATCHES,
        "epoch_mode": epoch_mode,
        "step_mode": step_mode,
    }
