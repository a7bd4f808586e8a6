"""A real Keras fit in a rollout's canary, beside simulated control jobs, through a real
`lrhub serve` whose judge runs: the fit takes the change from its next epoch and the verdict is
made of the validation losses Keras reported."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lrhub.client import Client
from lrhub.service.rollouts.service import canary_cohort
from tests.support.fleet import SimulatedJob
from tests.support.receiver import poll_until
from tests.support.server import running_server

keras = pytest.importorskip("keras")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import AtEpochEnd, build_model, fit  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

RATE = 0.05
CONSTANT = {"type": "constant", "learning_rate": RATE}
KERAS_JOB = "keras-1"
CONTROL = ("sim-0", "sim-1", "sim-2")
EPOCHS = 8
CREATED_AFTER = 1  # the rollout is created at the end of this epoch


def _seed_choosing(job_id: str, job_ids: list[str]) -> str:
    """A seed whose canary of one job is `job_id` (the cohort is reproducible from its seed)."""
    return next(
        seed
        for seed in (f"seed-{n}" for n in range(1000))
        if canary_cohort(job_ids, 1, seed) == [job_id]
    )


def test_a_keras_fit_in_the_canary(tmp_path: Path) -> None:
    env = {"LRHUB_ROLLOUT_JUDGE_INTERVAL": "0.05"}
    with running_server(tmp_path, env=env) as server, Client(server.url) as client:
        rng = random.Random(41)
        simulated = [SimulatedJob(job_id, random.Random(rng.random())) for job_id in CONTROL]
        for job in simulated:
            client.put_job(job.job_id, spec=CONSTANT, labels={"fleet": "mixed"})
        created: list[str] = []

        def at_epoch_end(epoch: int) -> None:
            for job in simulated:  # the control trains alongside, one epoch per Keras epoch
                answer = client.decide(job.job_id, epoch, metrics=job.metrics_for(epoch))
                loss = job.train_epoch(answer.learning_rate)
                client.report_epoch_end(job.job_id, epoch, metrics={"val_loss": loss})
            if epoch == CREATED_AFTER:
                seed = _seed_choosing(KERAS_JOB, [KERAS_JOB, *CONTROL])
                rollout = client.create_rollout(
                    "fleet=mixed",
                    {"scale": 0.5},
                    canary=1,
                    metric="val_loss",
                    epochs=3,
                    max_regression=0.02,
                    promote="manual",
                    revert="manual",
                    seed=seed,
                )
                assert rollout.canary == [KERAS_JOB]
                created.append(rollout.rollout_id)

        actions: dict[int, Callable[[], None]] = {
            epoch: functools.partial(at_epoch_end, epoch) for epoch in range(EPOCHS)
        }
        callback = RemoteLearningRate(
            job=KERAS_JOB, spec=CONSTANT, labels={"fleet": "mixed"}, verbose=0, client=client
        )
        history = fit(build_model(0.1), [AtEpochEnd(actions), callback], epochs=EPOCHS)

        # The rollout is created at the end of epoch 1 before the callback asks for epoch 2's
        # rate (AtEpochEnd comes first): epoch 2 is the first after the change, and the last
        # epoch Keras had reported, its baseline, is epoch 0.
        expected = [RATE] * (CREATED_AFTER + 1) + [RATE * 0.5] * (EPOCHS - CREATED_AFTER - 1)
        assert history["learning_rate"] == [float(np.float32(rate)) for rate in expected]
        [rollout_id] = created
        judged = poll_until(
            lambda: client.get_rollout(rollout_id),
            lambda r: r.state in ("passed", "failed"),
            30,
        )
        assert judged.verdict is not None
        figures = {figure.job_id: figure for figure in judged.verdict.jobs}
        val_loss = history["val_loss"]
        keras_figure = figures[KERAS_JOB]
        assert (keras_figure.baseline, keras_figure.value) == (val_loss[0], val_loss[3])
        for job in simulated:
            assert figures[job.job_id].value == job.losses[CREATED_AFTER + 3]
