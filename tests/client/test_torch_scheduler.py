"""RemoteScheduler through a real `lrhub serve`: a seeded CPU training ends with weights identical
(torch.equal) to the same training driven by torch's own scheduler, resumes from a checkpoint as
if never interrupted, keeps parameter-group ratios and holds its rates through a real outage.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lrhub.client import Client, JobPatch
from lrhub.client.training import CircuitBreaker
from tests.support.server import ServerProcess, start_server

torch = pytest.importorskip("torch")

from torch.optim import lr_scheduler  # noqa: E402

from lrhub.client.torch import RemoteScheduler  # noqa: E402

pytestmark = pytest.mark.torch

EPOCHS = 8
STEPS_PER_EPOCH = 4
BATCH = 8
# The breaker probes before every report, so the first epoch after a restart reaches the service.
PROBE_EVERY_TIME = CircuitBreaker(first_wait=0.0, max_wait=0.0)


@dataclass
class Task:
    """A seeded regression problem and a tiny model: the same tensors in every run."""

    inputs: Any
    targets: Any
    val_inputs: Any
    val_targets: Any

    @classmethod
    def make(cls) -> Task:
        generator = torch.Generator().manual_seed(7)
        inputs = torch.randn(STEPS_PER_EPOCH * BATCH, 4, generator=generator)
        val_inputs = torch.randn(16, 4, generator=generator)
        true_weights = torch.randn(4, 1, generator=generator)

        def target(x: Any) -> Any:
            noise = 0.3 * torch.randn(x.shape[0], 1, generator=generator)
            return torch.tanh(x @ true_weights) + noise

        return cls(inputs, target(inputs), val_inputs, target(val_inputs))


def build_model() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def build_optimizer(model: Any, lr: float = 0.1, head_ratio: float | None = None) -> Any:
    if head_ratio is None:
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    body, head = model[0], model[2]
    return torch.optim.SGD(
        [{"params": body.parameters()}, {"params": head.parameters(), "lr": lr * head_ratio}],
        lr=lr,
        momentum=0.9,
    )


def train_epoch(model: Any, optimizer: Any, task: Task, after_batch: Callable[[], None]) -> float:
    """One epoch of minibatch SGD; the epoch's validation loss."""
    loss_fn = torch.nn.MSELoss()
    for batch in range(STEPS_PER_EPOCH):
        rows = slice(batch * BATCH, (batch + 1) * BATCH)
        optimizer.zero_grad()
        loss_fn(model(task.inputs[rows]), task.targets[rows]).backward()
        optimizer.step()
        after_batch()
    with torch.no_grad():
        return float(loss_fn(model(task.val_inputs), task.val_targets))


def train(
    scheduler_of: Callable[[Any], Any],
    *,
    per_step: bool = False,
    plateau: bool = False,
    epochs: range = range(EPOCHS),
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
) -> tuple[Any, Any, Any, list[list[float]]]:
    """Train with a scheduler stepped as torch's docs say; the model, optimizer, scheduler and
    the rates every epoch began with."""
    task = Task.make()
    model = model or build_model()
    optimizer = optimizer or build_optimizer(model)
    scheduler = scheduler or scheduler_of(optimizer)
    rates: list[list[float]] = []
    for _ in epochs:
        rates.append([group["lr"] for group in optimizer.param_groups])
        val_loss = train_epoch(
            model, optimizer, task, scheduler.step if per_step else (lambda: None)
        )
        if plateau:
            scheduler.step(val_loss)
        elif not per_step:
            scheduler.step()
    return model, optimizer, scheduler, rates


def assert_rates(actual: list[list[float]] | list[float], expected: Any) -> None:
    """Rates per epoch (and group) equal up to float64 rounding: torch multiplies the previous
    rate by gamma, lrhub computes each rate from the initial one."""
    assert len(actual) == len(expected)
    for mine, theirs in zip(actual, expected, strict=True):
        assert mine == pytest.approx(theirs, rel=1e-12)


def assert_same_weights(model: Any, reference: Any) -> None:
    for (name, mine), (_, theirs) in zip(
        model.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        assert torch.equal(mine, theirs), name


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


STEP_DECAY = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
MULTI_STEP = {
    "type": "multi_step",
    "initial_learning_rate": 0.1,
    "milestones": [2, 5],
    "gamma": 0.1,
}

PER_EPOCH_CASES = [
    pytest.param(
        STEP_DECAY,
        lambda optimizer: lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
        id="StepLR",
    ),
    pytest.param(
        MULTI_STEP,
        lambda optimizer: lr_scheduler.MultiStepLR(optimizer, milestones=[2, 5], gamma=0.1),
        id="MultiStepLR",
    ),
]


@pytest.mark.parametrize(("spec", "torch_scheduler"), PER_EPOCH_CASES)
def test_per_epoch_training_ends_with_the_weights_of_torchs_own_scheduler(
    client: Client, spec: dict[str, Any], torch_scheduler: Callable[[Any], Any]
) -> None:
    reference, _, _, expected_rates = train(torch_scheduler)
    model, _, remote, rates = train(
        lambda optimizer: RemoteScheduler(optimizer, job="per-epoch", spec=spec, client=client)
    )
    assert_rates(rates, expected_rates)
    assert len({rate[0] for rate in rates}) > 1  # the schedule did change the rate
    assert_same_weights(model, reference)
    history = client.history("per-epoch").items
    assert [entry.epoch for entry in history] == list(range(EPOCHS + 1))
    assert [entry.learning_rate for entry in history[:EPOCHS]] == [r[0] for r in rates]
    assert remote.get_last_lr() == [history[-1].learning_rate]


def adam(model: Any) -> Any:
    return torch.optim.Adam(model.parameters(), lr=0.1)


def sgd(model: Any) -> Any:
    return build_optimizer(model)


TOTAL = EPOCHS * STEPS_PER_EPOCH
MOMENTUM_CASES = [
    pytest.param(
        {"type": "one_cycle", "unit": "step", "max_learning_rate": 0.1, "total_steps": TOTAL},
        lambda optimizer: lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=TOTAL),
        id="OneCycleLR",
    ),
    pytest.param(
        {"type": "cyclic", "unit": "step", "base_learning_rate": 0.01,
         "max_learning_rate": 0.1, "step_size_up": 5, "step_size_down": 3},
        lambda optimizer: lr_scheduler.CyclicLR(
            optimizer, base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=3
        ),
        id="CyclicLR",
    ),
]  # fmt: skip


@pytest.mark.parametrize("optimizer_of", [sgd, adam], ids=["SGD", "Adam"])
@pytest.mark.parametrize(("spec", "torch_scheduler"), MOMENTUM_CASES)
def test_momentum_cycling_per_step_ends_with_the_weights_of_torchs_scheduler(
    client: Client,
    spec: dict[str, Any],
    torch_scheduler: Callable[[Any], Any],
    optimizer_of: Callable[[Any], Any],
    request: pytest.FixtureRequest,
) -> None:
    """torch's defaults cycle momentum (SGD) or beta1 (Adam); RemoteScheduler does the same."""
    job = f"momentum-{request.node.callspec.id}".lower().replace("[", "-").replace("]", "")
    model = build_model()
    reference, _, _, _ = train(
        torch_scheduler, per_step=True, model=model, optimizer=optimizer_of(model)
    )

    def remote(optimizer: Any) -> RemoteScheduler:
        return RemoteScheduler(
            optimizer, job=job, spec=spec, per_step=True,
            steps_per_epoch=STEPS_PER_EPOCH, epochs=EPOCHS, client=client,
        )  # fmt: skip

    model = build_model()
    trained, _, remote_scheduler, _ = train(
        remote, per_step=True, model=model, optimizer=optimizer_of(model)
    )
    assert_same_weights(trained, reference)
    history = client.history(job).items
    assert all(len(entry.step_momentums or []) == STEPS_PER_EPOCH for entry in history)
    assert len({entry.momentum for entry in history}) > 1  # the momentum did cycle
    assert remote_scheduler.finished


@pytest.mark.parametrize("optimizer_of", [sgd, adam], ids=["SGD", "Adam"])
def test_a_product_ends_with_the_weights_of_torchs_chained_scheduler(
    client: Client, optimizer_of: Callable[[Any], Any]
) -> None:
    spec = {
        "type": "product",
        "factors": [
            {"type": "piecewise_constant_decay", "boundaries": [2], "values": [0.05, 0.1]},
            {"type": "step_decay", "initial_learning_rate": 1, "drop": 0.5, "every": 2},
        ],
    }

    def chained(optimizer: Any) -> Any:
        return lr_scheduler.ChainedScheduler(
            [
                lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=3),
                lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
            ]
        )

    model = build_model()
    reference, _, _, expected = train(chained, model=model, optimizer=optimizer_of(model))
    job = f"product-{optimizer_of.__name__}"
    model = build_model()
    trained, _, _, rates = train(
        lambda optimizer: RemoteScheduler(optimizer, job=job, spec=spec, client=client),
        model=model,
        optimizer=optimizer_of(model),
    )
    assert rates == expected
    assert len({rate[0] for rate in rates}) > 2
    assert_same_weights(trained, reference)


PLATEAU = {
    "type": "reduce_on_plateau", "semantics": "torch", "monitor": "val_loss", "mode": "min",
    "factor": 0.5, "patience": 0, "initial_learning_rate": 0.1,
}  # fmt: skip


def torch_plateau(optimizer: Any) -> Any:
    return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0)


def test_reduce_on_plateau_with_torch_semantics_ends_with_torchs_weights(client: Client) -> None:
    def remote(optimizer: Any) -> RemoteScheduler:
        return RemoteScheduler(optimizer, job="plateau", spec=PLATEAU, client=client)

    reference, _, _, expected = train(torch_plateau, plateau=True)
    model, _, scheduler, rates = train(remote, plateau=True)
    assert len({rate[0] for rate in expected}) > 1, "the reference run never reduced its rate"
    assert_rates(rates, expected)
    assert_same_weights(model, reference)
    # A bare number is reported under the spec's monitor.
    history = client.history("plateau").items
    assert history[1].input_metrics is not None and set(history[1].input_metrics) == {"val_loss"}
    assert scheduler.state_dict()["last_epoch"] == EPOCHS


def test_a_run_resumed_from_a_checkpoint_equals_an_uninterrupted_one(
    client: Client, tmp_path: Path
) -> None:
    def remote(job: str) -> Callable[[Any], RemoteScheduler]:
        return lambda optimizer: RemoteScheduler(optimizer, job=job, spec=PLATEAU, client=client)

    uninterrupted, _, _, expected = train(remote("whole"), plateau=True)

    half = EPOCHS // 2
    model, optimizer, scheduler, _ = train(remote("resumed"), plateau=True, epochs=range(half))
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        checkpoint,
    )
    del model, optimizer, scheduler

    # A new process would do exactly this: new objects, state from the file.
    saved = torch.load(checkpoint)
    model = build_model()
    model.load_state_dict(saved["model"])
    optimizer = build_optimizer(model)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler = remote("resumed")(optimizer)
    scheduler.load_state_dict(saved["scheduler"])
    assert scheduler.last_epoch == half
    assert scheduler.get_last_lr() == pytest.approx(expected[half], rel=1e-12)

    resumed, _, _, rates = train(
        remote("resumed"), plateau=True, epochs=range(half, EPOCHS),
        model=model, optimizer=optimizer, scheduler=scheduler,
    )  # fmt: skip
    assert_rates(rates, expected[half:])
    assert_same_weights(resumed, uninterrupted)
    whole = [(e.epoch, e.learning_rate, e.metrics) for e in client.history("whole").items]
    again = [(e.epoch, e.learning_rate, e.metrics) for e in client.history("resumed").items]
    assert again == whole


def test_every_parameter_group_keeps_its_ratio_to_the_first(client: Client) -> None:
    spec = STEP_DECAY
    seen: list[list[float]] = []

    def record(optimizer: Any) -> RemoteScheduler:
        return RemoteScheduler(optimizer, job="groups", spec=spec, client=client)

    model = build_model()
    optimizer = build_optimizer(model, head_ratio=0.25)
    reference_model = build_model()
    reference_optimizer = build_optimizer(reference_model, head_ratio=0.25)
    reference, _, _, expected = train(
        lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        model=reference_model, optimizer=reference_optimizer,
    )  # fmt: skip
    trained, _, scheduler, seen = train(record, model=model, optimizer=optimizer)
    assert [len(rates) for rates in seen] == [2] * EPOCHS
    assert_rates(seen, expected)
    assert all(head == pytest.approx(body * 0.25, rel=1e-12) for body, head in seen)
    assert_same_weights(trained, reference)
    assert scheduler.base_lrs == [0.1, 0.025]


def test_hold_keeps_the_rate_through_a_real_outage_and_replays_the_missed_epochs(
    live_server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]
) -> None:
    spec = MULTI_STEP  # MultiStepLR: drops at epochs 2 and 5
    client = Client(live_server.url, max_retries=0, timeout=2.0)
    model = build_model()
    optimizer = build_optimizer(model)
    scheduler = RemoteScheduler(
        optimizer, job="outage", spec=spec, client=client, breaker=PROBE_EVERY_TIME
    )
    task = Task.make()
    rates: list[float] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in range(EPOCHS):
            rates.append(optimizer.param_groups[0]["lr"])
            val_loss = train_epoch(model, optimizer, task, lambda: None)
            if epoch == 1:
                live_server.kill()  # epochs 2, 3, 4 cannot be reported
            if epoch == 4:
                restarted.append(start_server(tmp_path, port=live_server.port))
            scheduler.step({"val_loss": val_loss})
    # Held at epoch 1's rate while the service was down (torch alone would drop at epoch 2).
    assert rates[:2] == [0.1, 0.1]
    assert rates[2:5] == [0.1, 0.1, 0.1]
    assert rates[5] == pytest.approx(0.001, rel=1e-12)  # after the replay: the schedule's rate
    assert any("holding the current learning rate" in str(w.message) for w in caught)
    history = client.history("outage").items
    assert [entry.epoch for entry in history] == list(range(EPOCHS + 1))
    assert all(entry.input_metrics for entry in history[1:])  # every epoch's metrics arrived


def test_the_stop_signal_and_the_lifecycle(client: Client) -> None:
    model = build_model()
    optimizer = build_optimizer(model)
    spec = STEP_DECAY
    with RemoteScheduler(optimizer, job="stopped", spec=spec, client=client) as scheduler:
        scheduler.step({"loss": 1.0})
        assert not scheduler.should_stop
        client.patch_job("stopped", JobPatch(status="stopped"))
        scheduler.step({"loss": 0.9})
        assert scheduler.should_stop
    with (
        pytest.raises(RuntimeError, match="diverged"),
        RemoteScheduler(optimizer, job="crashed", spec=spec, client=client) as scheduler,
    ):
        scheduler.step({"loss": 0.5})
        raise RuntimeError("diverged")
    assert client.get_job("crashed").status == "failed"
    done = RemoteScheduler(optimizer, job="nan", spec=spec, client=client)
    done.finish({"loss": float("nan")})
    assert client.get_job("nan").status == "failed"


# Leaves a `with RemoteScheduler` block with an exception nobody catches: both `__exit__` and the
# sys.excepthook net see it. atexit runs after the hook, so the count includes the hook's reports.
CRASH_ONCE = """
import atexit, sys
import httpx, torch
from lrhub.client import Client
from lrhub.client.torch import RemoteScheduler

patches = []

class Counting(httpx.HTTPTransport):
    def handle_request(self, request):
        if request.method == "PATCH":
            patches.append(request.content.decode())
        return super().handle_request(request)

atexit.register(lambda: print("PATCHES", patches, flush=True))
client = Client(sys.argv[1], transport=Counting())
optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
spec = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
with RemoteScheduler(optimizer, job="crash-once", spec=spec, client=client) as scheduler:
    scheduler.step({"loss": 0.5})
    raise RuntimeError("diverged")
"""


def test_a_crash_out_of_the_context_manager_is_reported_failed_once(
    live_server: ServerProcess, client: Client
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASH_ONCE, live_server.url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "RuntimeError: diverged" in done.stderr, done.stderr[-3000:]
    [printed] = [line for line in done.stdout.splitlines() if line.startswith("PATCHES")]
    patches = ast.literal_eval(printed.removeprefix("PATCHES "))
    assert [json.loads(body) for body in patches] == [{"status": "failed"}]
    assert client.get_job("crash-once").status == "failed"


def test_refusals_are_clear(client: Client) -> None:
    optimizer = build_optimizer(build_model())
    with pytest.raises(ValueError, match="steps_per_epoch"):
        RemoteScheduler(optimizer, job="x", spec=PLATEAU, per_step=True, client=client)
    scheduler = RemoteScheduler(optimizer, job="mine", spec=PLATEAU, client=client)
    with pytest.raises(ValueError, match="job 'other'"):
        scheduler.load_state_dict({**scheduler.state_dict(), "job": "other"})
    with pytest.raises(TypeError, match="mapping"):
        scheduler.step("low")  # type: ignore[arg-type]
