"""Real torch trainings under a rollout, through a real `lrhub serve` whose judge runs: the
canary's optimizers take the change from their next decided epoch, the control's never do, the
verdict is made of the validation losses the trainings reported, and a revert puts the canary's
rate back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lrhub.client import Client
from tests.support.receiver import poll_until
from tests.support.server import ServerProcess, running_server

torch = pytest.importorskip("torch")

from lrhub.client.torch import RemoteScheduler  # noqa: E402
from tests.client.test_torch_scheduler import Task, build_model, train_epoch  # noqa: E402

pytestmark = pytest.mark.torch

RATE = 0.05
CONSTANT = {"type": "constant", "learning_rate": RATE}
JOBS = ("t-0", "t-1", "t-2", "t-3")


@pytest.fixture
def judged_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path, env={"LRHUB_ROLLOUT_JUDGE_INTERVAL": "0.05"}) as server:
        yield server


class Training:
    """One real torch training of the fleet, its scheduler asking the service every epoch."""

    def __init__(self, job_id: str, client: Client) -> None:
        self.task = Task.make()
        self.model = build_model()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=RATE, momentum=0.9)
        self.scheduler = RemoteScheduler(
            self.optimizer, job=job_id, spec=CONSTANT, labels={"fleet": "torch"}, client=client
        )
        self.rates: list[float] = []
        self.val_losses: list[float] = []

    def epoch(self) -> None:
        self.rates.append(self.optimizer.param_groups[0]["lr"])
        val_loss = train_epoch(self.model, self.optimizer, self.task, lambda: None)
        self.val_losses.append(val_loss)
        self.scheduler.step({"val_loss": val_loss})


def _epochs(trainings: dict[str, Training], count: int) -> None:
    for _ in range(count):
        for training in trainings.values():
            training.epoch()


def test_torch_trainings_under_a_rollout(judged_server: ServerProcess) -> None:
    with Client(judged_server.url) as client:
        trainings = {job_id: Training(job_id, client) for job_id in JOBS}
        _epochs(trainings, 2)  # epochs 0 and 1: the baseline is epoch 1's val_loss
        rollout = client.create_rollout(
            "fleet=torch",
            {"scale": 0.5},
            canary=2,
            metric="val_loss",
            epochs=3,
            max_regression=0.02,
            promote="manual",
            revert="manual",
        )
        _epochs(trainings, 3)  # epochs 2, 3, 4: epoch 2 was decided before the change
        judged = poll_until(
            lambda: client.get_rollout(rollout.rollout_id),
            lambda r: r.state in ("passed", "failed"),
            30,
        )
        for job_id, training in trainings.items():
            changed = job_id in rollout.canary
            assert training.rates == [RATE] * 3 + [RATE * 0.5 if changed else RATE] * 2, job_id
        assert judged.verdict is not None
        for figure in judged.verdict.jobs:
            losses = trainings[figure.job_id].val_losses
            assert (figure.baseline, figure.value) == (losses[1], losses[4])
            assert figure.cohort == ("canary" if figure.job_id in rollout.canary else "control")
        client.revert_rollout(rollout.rollout_id)
        _epochs(trainings, 2)  # epoch 5 was decided before the revert, epoch 6 after it
        for job_id in rollout.canary:
            assert trainings[job_id].rates[5:] == [RATE * 0.5, RATE]
        for job_id in rollout.control:
            assert trainings[job_id].rates[5:] == [RATE, RATE]
        events = client.events(rollout.canary[0]).items
        assert [event.change_id for event in events[-2:]] == [rollout.change_id] * 2
