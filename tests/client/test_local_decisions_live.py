"""`answer_locally` (on_error="local") against a real `lrhub serve`: for every operator change the
service applies (scale, override, pause, stop, a new spec with a restarted clock), the rate the
client computes from the job's last spec and state is the rate the service answers."""

from __future__ import annotations

from collections.abc import Mapping

from lrhub.client import Client, Cooldown, JobPatch
from lrhub.client.local_decisions import LOCAL_REASON_PREFIX, JobSnapshot, answer_locally
from lrhub.client.models import EpochAnswer
from tests.support.server import ServerProcess

PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.2,
    "patience": 1,
    "cooldown": 1,
    "min_lr": 0.001,
    "initial_learning_rate": 0.1,
}
COSINE_PER_STEP = {
    "type": "cosine_decay",
    "initial_learning_rate": 0.05,
    "decay_steps": 12,
    "unit": "step",
}

# (operator change made before the epoch, metrics reported, steps_per_epoch) for epochs 0, 1, ...
SCRIPT: list[tuple[JobPatch | None, Mapping[str, float] | None, int | None]] = [
    (None, {}, None),
    (None, {"val_loss": 1.0}, None),
    (JobPatch(scale=0.5), {"val_loss": 1.1}, None),
    (JobPatch(override=0.02), {"val_loss": 1.2}, 3),
    (JobPatch(override=None, paused=True), {"val_loss": 0.9}, None),
    (None, {"val_loss": 1.3}, None),
    (JobPatch(paused=False), {"val_loss": 1.4}, None),
    (JobPatch(spec=COSINE_PER_STEP, clock="restart"), {"val_loss": 1.5}, 3),
    (JobPatch(cooldown=Cooldown(steps=4, shape="1-sqrt", min_learning_rate=0.001)), None, 3),
    (None, {"val_loss": 1.6}, 3),
    (JobPatch(status="stopped"), {"val_loss": 1.6}, 3),
]


def assert_same_answer(local: EpochAnswer, served: EpochAnswer) -> None:
    assert local.learning_rate == served.learning_rate
    assert local.step_learning_rates == served.step_learning_rates
    assert local.stop == served.stop
    assert local.state == served.state
    assert local.reason == f"{LOCAL_REASON_PREFIX}: {served.reason}"


def test_local_decisions_answer_what_the_service_answers_through_operator_changes(
    live_server: ServerProcess,
) -> None:
    with Client(live_server.url) as client:
        client.put_job("mirror-1", spec=PLATEAU)
        # Advanced only by local answers between changes: what on_error="local" does in an outage.
        chained = JobSnapshot.of(client.get_job("mirror-1"))
        for epoch, (change, metrics, steps) in enumerate(SCRIPT):
            if change is not None:
                client.patch_job("mirror-1", change)
                chained = JobSnapshot.of(client.get_job("mirror-1"))
            local = answer_locally(chained, epoch, metrics, steps)
            served = client.decide("mirror-1", epoch, metrics=metrics, steps_per_epoch=steps)
            assert_same_answer(local.answer, served)
            chained = local.snapshot
        rates = [entry.learning_rate for entry in client.history("mirror-1").items]
    assert len(set(rates)) >= 6, "the script must make the service answer many different rates"


def test_a_job_paused_before_its_first_epoch_holds_its_first_scaled_rate_locally_too(
    live_server: ServerProcess,
) -> None:
    with Client(live_server.url) as client:
        client.put_job("mirror-2", spec=PLATEAU, scale=2.0)
        client.patch_job("mirror-2", JobPatch(paused=True))
        chained = JobSnapshot.of(client.get_job("mirror-2"))
        for epoch, metrics in enumerate([{}, {"val_loss": 1.0}, {"val_loss": 2.0}]):
            local = answer_locally(chained, epoch, metrics, None)
            served = client.decide("mirror-2", epoch, metrics=metrics)
            assert_same_answer(local.answer, served)
            chained = local.snapshot
    assert served.learning_rate == 0.2
