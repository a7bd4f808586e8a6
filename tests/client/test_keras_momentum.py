"""RemoteLearningRate with a schedule that sets momentum: set on the Keras optimizer where the
train step reads it, refused before any batch trains where it cannot be.

The reference is Keras itself: the same seeded eager fit with a plain callback setting the rate
and the momentum each epoch to the values torch's own `OneCycleLR` gives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import build_model, fit  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.torch]

EPOCHS = 6
ONE_CYCLE = {"type": "one_cycle", "max_learning_rate": 0.05, "total_steps": EPOCHS}


def torch_one_cycle() -> tuple[list[float], list[float]]:
    """The rate and momentum of each epoch from torch's OneCycleLR (default momentum cycling)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=EPOCHS)
    rates, momentums = [], []
    for _ in range(EPOCHS):
        rates.append(optimizer.param_groups[0]["lr"])
        momentums.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return rates, momentums


def adam_model() -> Any:
    model = build_model(0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.0, beta_1=0.9),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def eager(model: Any) -> Any:
    model.run_eagerly = True
    return model


def weights(model: Any) -> list[np.ndarray]:
    return [np.asarray(weight) for weight in model.get_weights()]


@pytest.mark.parametrize(
    ("make_model", "attribute"),
    [
        pytest.param(lambda: build_model(0.0, momentum=0.9), "momentum", id="SGD"),
        pytest.param(adam_model, "beta_1", id="Adam"),
    ],
)
def test_scheduled_momentum_matches_keras_set_by_hand(
    live_server: ServerProcess, make_model: Callable[[], Any], attribute: str
) -> None:
    rates, momentums = torch_one_cycle()

    def by_hand(epoch: int, logs: Any) -> None:
        optimizer = reference.optimizer
        optimizer.learning_rate.assign(rates[epoch])
        setattr(optimizer, attribute, momentums[epoch])

    reference = eager(make_model())
    local = fit(reference, [keras.callbacks.LambdaCallback(on_epoch_begin=by_hand)], epochs=EPOCHS)

    remote_model = eager(make_model())
    callback = RemoteLearningRate(
        job=f"momentum-{attribute}", spec=ONE_CYCLE, verbose=0, client=Client(live_server.url)
    )
    remote = fit(remote_model, [callback], epochs=EPOCHS)

    assert getattr(remote_model.optimizer, attribute) == pytest.approx(momentums[-1], rel=1e-12)
    assert remote["loss"] == local["loss"]
    for ours, theirs in zip(weights(remote_model), weights(reference), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    with Client(live_server.url) as client:
        history = client.history(f"momentum-{attribute}", limit=100).items
    assert [entry.momentum for entry in history] == pytest.approx(momentums, rel=1e-12)


@pytest.mark.parametrize(
    ("make_model", "refusal"),
    [
        pytest.param(lambda: build_model(0.0, momentum=0.9), "run_eagerly=True", id="compiled"),
        pytest.param(
            lambda: eager(build_model(0.0, momentum=0.0)), "non-zero momentum", id="SGD-without"
        ),
        pytest.param(
            lambda: eager(_compiled_with(keras.optimizers.Adagrad(learning_rate=0.0))),
            "cannot take",
            id="Adagrad",
        ),
    ],
)
def test_momentum_it_cannot_set_is_refused_before_any_batch_trains(
    live_server: ServerProcess, make_model: Callable[[], Any], refusal: str
) -> None:
    model = make_model()
    before = weights(model)
    callback = RemoteLearningRate(
        job="refused", spec=ONE_CYCLE, verbose=0, client=Client(live_server.url)
    )
    with pytest.raises(ValueError, match=refusal):
        fit(model, [callback], epochs=EPOCHS)
    for now, then in zip(weights(model), before, strict=True):
        np.testing.assert_array_equal(now, then)


def _compiled_with(optimizer: Any) -> Any:
    model = build_model(0.0)
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model
