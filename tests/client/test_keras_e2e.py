"""RemoteLearningRate against a real `lrhub serve` with real Keras training on Ionosphere.

Every comparison is with Keras itself: the same seeded fit with Keras's own callback or schedule.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrhub.client import Client, JobPatch
from tests.support.server import ServerProcess

keras = pytest.importorskip("keras")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import (  # noqa: E402
    QUICK_PLATEAU,
    AtEpochEnd,
    build_model,
    fit,
    load_ionosphere,
)

pytestmark = [pytest.mark.keras, pytest.mark.slow]

DROP_BASED = {
    "type": "step_decay",
    "initial_learning_rate": 0.1,
    "drop": 0.5,
    "every": 10,
    "offset": 1,
}


def step_decay(epoch: int) -> float:
    """The Ionosphere experiment's drop-based decay, as its Keras example writes it."""
    return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 10))


def float32(values: list[float]) -> list[float]:
    return [float(np.float32(value)) for value in values]


def test_drop_based_schedule_matches_a_local_learning_rate_scheduler(
    live_server: ServerProcess,
) -> None:
    local = fit(build_model(0.0), [keras.callbacks.LearningRateScheduler(step_decay)], epochs=50)
    remote_callback = RemoteLearningRate(
        job="drop-1", spec=DROP_BASED, verbose=0, client=Client(live_server.url)
    )
    remote = fit(build_model(0.0), [remote_callback], epochs=50)

    assert remote["learning_rate"] == local["learning_rate"]
    assert remote["learning_rate"] == float32([step_decay(epoch) for epoch in range(50)])
    assert remote["val_loss"] == local["val_loss"]
    assert remote["val_accuracy"] == local["val_accuracy"]
    assert remote["loss"] == local["loss"]
    with Client(live_server.url) as client:
        history = client.history("drop-1", limit=1000).items
        status = client.get_job("drop-1").status
    assert [entry.epoch for entry in history] == list(range(50))
    observed = [
        {name: local[name][epoch] for name in ("loss", "accuracy", "val_loss", "val_accuracy")}
        for epoch in range(50)
    ]
    # Each epoch with the rate it trained at and the metrics at its end, the last one included.
    assert [entry.metrics for entry in history] == observed
    assert [entry.learning_rate for entry in history] == [step_decay(e) for e in range(50)]
    assert [entry.input_metrics for entry in history] == [{}, *observed[:-1]]
    assert status == "completed"


def test_reduce_on_plateau_matches_keras_reduce_lr_on_plateau(live_server: ServerProcess) -> None:
    settings = {"monitor": "val_loss", "factor": 0.5, "patience": 3, "min_delta": 1e-4}
    local_callback = keras.callbacks.ReduceLROnPlateau(**settings, cooldown=1, min_lr=0.001)
    local = fit(build_model(0.1), [local_callback], epochs=50)
    spec = {
        "type": "reduce_on_plateau",
        **settings,
        "cooldown": 1,
        "min_lr": 0.001,
        "mode": "min",
        "initial_learning_rate": 0.1,
        "semantics": "keras",
    }
    remote_callback = RemoteLearningRate(
        job="plateau-1", spec=spec, verbose=0, client=Client(live_server.url)
    )
    remote = fit(build_model(0.1), [remote_callback], epochs=50)

    reductions = len(set(local["learning_rate"])) - 1
    assert reductions >= 2, "the settings must make Keras reduce the rate within the fit"
    assert remote["learning_rate"] == local["learning_rate"]
    assert remote["val_loss"] == local["val_loss"]
    assert remote["val_accuracy"] == local["val_accuracy"]


def test_per_step_cosine_decay_reproduces_a_keras_schedule_object(
    live_server: ServerProcess,
) -> None:
    epochs = 8
    features, _ = load_ionosphere()
    train_rows = int(len(features) * (1 - 0.33))
    steps_per_epoch = math.ceil(train_rows / 28)
    decay_steps = epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.1, decay_steps=decay_steps, alpha=0.01
    )
    local_model = build_model(schedule)
    local = fit(local_model, [], epochs=epochs)

    spec = {
        "type": "cosine_decay",
        "initial_learning_rate": 0.1,
        "decay_steps": decay_steps,
        "alpha": 0.01,
        "unit": "step",
    }
    callback = RemoteLearningRate(
        job="cosine-1", spec=spec, per_step=True, verbose=0, client=Client(live_server.url)
    )
    remote_model = build_model(0.1)
    remote = fit(remote_model, [callback], epochs=epochs)

    with Client(live_server.url) as client:
        history = client.history("cosine-1").items
    served_rates = [rate for entry in history for rate in entry.step_learning_rates or []]
    keras_rates = [float(schedule(step)) for step in range(decay_steps)]
    assert len(served_rates) == decay_steps
    # Keras's schedule object computes in float32 (on PyTorch a cosine of a float32 argument
    # differs by up to ~1.3e-6 relative near the end of the decay); the service in float64.
    np.testing.assert_allclose(served_rates, keras_rates, rtol=5e-6)
    np.testing.assert_allclose(remote["loss"], local["loss"], rtol=1e-5)
    np.testing.assert_allclose(remote["val_loss"], local["val_loss"], rtol=1e-5)
    for remote_weights, local_weights in zip(
        remote_model.get_weights(), local_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(remote_weights, local_weights, rtol=1e-4, atol=1e-6)
    # The last batch of the last epoch ran at the schedule's last step.
    assert float(np.float32(remote_model.optimizer.learning_rate)) == pytest.approx(
        keras_rates[-1], rel=1e-6
    )


def test_per_step_staircase_decay_reproduces_a_keras_schedule_object(
    live_server: ServerProcess,
) -> None:
    # Runs of equal step rates that end mid-epoch and across epoch boundaries: the callback
    # skips writing an unchanged rate, which must not skip a change.
    epochs = 4
    schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=0.1, decay_steps=4, decay_rate=0.7, staircase=True
    )
    local_model = build_model(schedule)
    local = fit(local_model, [], epochs=epochs)

    spec = {
        "type": "exponential_decay",
        "initial_learning_rate": 0.1,
        "decay_steps": 4,
        "decay_rate": 0.7,
        "staircase": True,
        "unit": "step",
    }
    callback = RemoteLearningRate(
        job="staircase-1", spec=spec, per_step=True, verbose=0, client=Client(live_server.url)
    )
    remote_model = build_model(0.1)
    remote = fit(remote_model, [callback], epochs=epochs)

    np.testing.assert_allclose(remote["loss"], local["loss"], rtol=1e-5)
    np.testing.assert_allclose(remote["val_loss"], local["val_loss"], rtol=1e-5)
    for remote_weights, local_weights in zip(
        remote_model.get_weights(), local_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(remote_weights, local_weights, rtol=1e-4, atol=1e-6)
    steps = int(remote_model.optimizer.iterations)
    assert float(np.float32(remote_model.optimizer.learning_rate)) == pytest.approx(
        float(schedule(steps - 1)), rel=1e-6
    )


def test_a_switch_over_http_changes_the_rate_at_the_next_epoch_and_stop_ends_the_fit(
    live_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = Client(live_server.url)
    client.put_schedule("warm", {"type": "constant", "learning_rate": 0.1})
    client.put_schedule("cool", {"type": "constant", "learning_rate": 0.01})

    def from_another_thread(changes: JobPatch) -> Callable[[], None]:
        def patch() -> None:
            failures: list[BaseException] = []

            def run() -> None:
                try:
                    with Client(live_server.url) as operator:
                        operator.patch_job("switch-1", changes)
                except BaseException as error:  # reported in the training thread
                    failures.append(error)

            operator_thread = threading.Thread(target=run)
            operator_thread.start()
            operator_thread.join(timeout=60)
            assert not operator_thread.is_alive() and not failures, failures

        return patch

    operator = AtEpochEnd(
        {
            4: from_another_thread(JobPatch(schedule="cool")),
            7: from_another_thread(JobPatch(status="stopped")),
        }
    )
    csv_path = tmp_path / "log.csv"
    callbacks = [
        operator,
        RemoteLearningRate(job="switch-1", schedule="warm", verbose=1, client=client),
        keras.callbacks.CSVLogger(str(csv_path)),
    ]
    history = fit(build_model(0.5), callbacks, epochs=30)

    expected = float32([0.1] * 5 + [0.01] * 3)
    # The stop is answered for epoch 8 at the end of epoch 7: the fit ends there.
    assert history["learning_rate"] == expected, "switched at epoch 5, stopped after epoch 7"
    printed = capsys.readouterr().out
    assert "Epoch 6: RemoteLearningRate setting learning rate to 0.01 (" in printed
    logged = csv_path.read_text().splitlines()
    rate_column = logged[0].split(",").index("learning_rate")
    assert [float(line.split(",")[rate_column]) for line in logged[1:]] == expected
    job = client.get_job("switch-1")
    assert job.status == "stopped" and job.schedule.name == "cool"


def test_a_resumed_fit_continues_the_rates_of_an_uninterrupted_run(
    live_server: ServerProcess,
) -> None:
    spec = {
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "factor": 0.5,
        "patience": 2,
        "initial_learning_rate": 0.1,
    }
    client = Client(live_server.url)
    whole = fit(
        build_model(0.1),
        [RemoteLearningRate(job="whole", spec=spec, verbose=0, client=client)],
        epochs=30,
    )
    model = build_model(0.1)
    callback = RemoteLearningRate(job="split", spec=spec, verbose=0, client=client)
    first = fit(model, [callback], epochs=15)
    second = fit(model, [callback], epochs=30, initial_epoch=15)

    assert len(set(whole["learning_rate"])) > 1, "the plateau must reduce within the run"
    assert first["learning_rate"] + second["learning_rate"] == whole["learning_rate"]
    assert first["val_loss"] + second["val_loss"] == whole["val_loss"]


def test_on_error_raise_stops_training_when_the_service_is_unreachable(
    live_server: ServerProcess,
) -> None:
    live_server.stop()
    callback = RemoteLearningRate(
        job="down-1", spec=DROP_BASED, on_error="raise", verbose=0,
        client=Client(live_server.url, max_retries=0),
    )  # fmt: skip
    from lrhub.client import ConnectError

    with pytest.raises(ConnectError):
        fit(build_model(0.1), [callback], epochs=2)


def test_an_optimizer_built_with_a_schedule_object_is_refused_with_a_clear_message() -> None:
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    callback = RemoteLearningRate(
        job="never-sent", spec=DROP_BASED, client=Client("http://127.0.0.1:9", max_retries=0)
    )
    with pytest.raises(ValueError, match="built with a LearningRateSchedule object"):
        fit(build_model(schedule), [callback], epochs=1)


def test_a_restore_from_an_older_checkpoint_rewinds_the_job(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    spec = QUICK_PLATEAU
    checkpoint = tmp_path / "epoch-4.keras"
    client = Client(live_server.url)
    model = build_model(0.1)
    save_at_4 = AtEpochEnd({4: lambda: model.save(checkpoint)})
    first = fit(
        model,
        [RemoteLearningRate(job="restore-1", spec=spec, verbose=0, client=client), save_at_4],
        epochs=10,
    )
    # A new process restores the epoch-4 checkpoint and trains epochs 5..9 again; its batches
    # come in another order, so its metrics differ from the first run's.
    restored = keras.models.load_model(checkpoint)
    keras.utils.set_random_seed(8)
    again = fit(
        restored,
        [RemoteLearningRate(job="restore-1", spec=spec, verbose=0, client=client)],
        epochs=10,
        initial_epoch=5,
    )

    assert again["learning_rate"][0] == first["learning_rate"][5], "epoch 5 replays its decision"
    assert again["val_loss"][:4] != first["val_loss"][5:9]
    observed = [{"val_loss": v} for v in first["val_loss"][:5] + again["val_loss"][:4]]
    expected = client.preview(spec=spec, epochs=10, metrics=observed).learning_rates
    current = client.history("restore-1").items
    assert [entry.epoch for entry in current] == list(range(10))
    assert [entry.learning_rate for entry in current] == expected
    assert again["learning_rate"] == float32(expected[5:])
    superseded = [e for e in client.history("restore-1", superseded=True).items if e.superseded]
    assert [entry.epoch for entry in superseded] == [6, 7, 8, 9]


def test_only_finite_metrics_with_valid_names_are_sent(live_server: ServerProcess) -> None:
    class OddLogs(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            assert logs is not None
            logs.update({"diverged": float("nan"), "has space": 1.0, "note": "text"})

    client = Client(live_server.url)
    callback = RemoteLearningRate(job="odd-1", spec=DROP_BASED, verbose=0, client=client)
    fit(build_model(0.1), [OddLogs(), callback], epochs=2)
    sent = client.history("odd-1").items[1].metrics
    assert sent is not None and set(sent) == {"loss", "accuracy", "val_loss", "val_accuracy"}
