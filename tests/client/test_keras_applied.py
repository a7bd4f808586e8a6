"""Applied rates with real Keras against a real `lrhub serve`: a plain fit (float32 rates) has no
drift, per epoch or per step; a LearningRateScheduler that overwrites one epoch's rate is drift at
exactly that epoch."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

keras = pytest.importorskip("keras")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import build_model, fit  # noqa: E402

pytestmark = [pytest.mark.keras]

COSINE = {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 5, "alpha": 0.01}


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[Client]:
    with Client(live_server.url) as client:
        yield client


def test_a_plain_fit_has_no_drift(client: Client) -> None:
    callback = RemoteLearningRate(job="keras-plain", spec=COSINE, client=client, verbose=0)
    fit(build_model(), [callback], epochs=5)
    history = client.history("keras-plain").items
    assert [entry.drift for entry in history] == [False] * 5
    # Keras holds the rate in float32: what it reports is the answer rounded, and no drift.
    assert any(e.applied_learning_rate != e.learning_rate for e in history)


def test_a_per_step_fit_reports_each_epochs_last_step_rate(client: Client) -> None:
    spec = {**COSINE, "unit": "step", "decay_steps": 40}
    callback = RemoteLearningRate(
        job="keras-steps", spec=spec, per_step=True, client=client, verbose=0
    )
    fit(build_model(), [callback], epochs=4)
    history = client.history("keras-steps").items
    assert [entry.drift for entry in history] == [False] * 4
    for entry in history:
        assert entry.step_learning_rates is not None
        # What the optimizer held at the epoch's end: its last step's rate, in float32.
        last_step = float(np.float32(entry.step_learning_rates[-1]))
        assert entry.applied_learning_rate == last_step != entry.learning_rate


def test_a_callback_overwriting_the_rate_is_drift_at_exactly_its_epoch(client: Client) -> None:
    callback = RemoteLearningRate(job="keras-fight", spec=COSINE, client=client, verbose=0)

    def overwrite(epoch: int, rate: float) -> float:
        return 0.5 if epoch == 2 else rate

    # Listed after lrhub's callback: its on_epoch_begin wins for epoch 2.
    other = keras.callbacks.LearningRateScheduler(overwrite)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the callback warns of the fight
        fit(build_model(), [callback, other], epochs=5)
    history = client.history("keras-fight").items
    assert [entry.drift for entry in history] == [False, False, True, False, False]
    assert history[2].applied_learning_rate == 0.5
