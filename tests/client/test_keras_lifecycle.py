"""RemoteLearningRate in the situations users run it in, against a real `lrhub serve` and real
Keras: preemption with BackupAndRestore, a second fit, mixed precision, copies for tuners,
TensorBoard, a conflicting job id, another rate-setting callback, and how jobs end."""

from __future__ import annotations

import copy
import math
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrhub.client import Client, JobConflict, NotFound
from tests.support.server import ServerProcess, running_server

keras = pytest.importorskip("keras")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import QUICK_PLATEAU, build_model, fit  # noqa: E402
from tests.client.preemptible_fit import EPOCHS, POINTS  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

REPOSITORY = Path(__file__).resolve().parents[2]


def float32(values: list[float]) -> list[float]:
    return [float(np.float32(value)) for value in values]


def preemptible_fit(
    server: ServerProcess,
    job: str,
    backup: Path,
    weights: Path,
    kill: str | None = None,
    crash: str | None = None,
) -> int:
    """Run tests/client/preemptible_fit.py in a fresh interpreter; its exit code."""
    command = [sys.executable, "-m", "tests.client.preemptible_fit", server.url, job,
               str(backup), str(weights)]  # fmt: skip
    if kill is not None:
        command += ["--kill", kill]
    if crash is not None:
        command += ["--crash", crash]
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    if crash is not None:
        assert done.returncode == 1 and "Crash: crashed at" in done.stderr, done.stderr[-3000:]
    else:
        assert done.returncode in (0, -9), done.stderr[-3000:]
    return done.returncode


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the preemption runs: each compares with the same uninterrupted job."""
    with running_server(tmp_path_factory.mktemp("preemption")) as server:
        yield server


@pytest.fixture(scope="module")
def uninterrupted(
    shared_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> list[np.ndarray]:
    """The final weights of the fit nobody killed (job "whole")."""
    workdir = tmp_path_factory.mktemp("whole")
    weights = workdir / "weights.npz"
    assert preemptible_fit(shared_server, "whole", workdir / "backup", weights) == 0
    with np.load(weights) as saved:
        return [saved[name] for name in saved.files]


@pytest.mark.parametrize("point", POINTS)
def test_a_fit_killed_around_an_epoch_end_resumes_to_the_weights_of_an_uninterrupted_run(
    shared_server: ServerProcess,
    uninterrupted: list[np.ndarray],
    tmp_path: Path,
    point: str,
) -> None:
    epoch = EPOCHS - 1 if point == "train-end" else 2
    job = f"preempted-{point}"
    weights = tmp_path / "weights.npz"
    backup = tmp_path / "backup"
    killed = preemptible_fit(shared_server, job, backup, weights, kill=f"{point}:{epoch}")
    assert killed == -9 and not weights.exists(), "the first process must die there"
    assert preemptible_fit(shared_server, job, backup, weights) == 0

    with np.load(weights) as saved:
        resumed = [saved[name] for name in saved.files]
    for got, want in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(got, want)
    with Client(shared_server.url) as client:
        history = client.history(job, limit=100).items
        whole = client.history("whole", limit=100).items
        state, whole_state = client.get_job(job).state, client.get_job("whole").state
        status = client.get_job(job).status
    assert [(e.epoch, e.learning_rate, e.metrics) for e in history] == [
        (e.epoch, e.learning_rate, e.metrics) for e in whole
    ]
    assert len({entry.learning_rate for entry in whole}) > 1, "the plateau must reduce"
    assert state == whole_state and status == "completed"


def test_an_exception_that_ends_the_process_reports_the_job_failed_and_a_resume_goes_on(
    shared_server: ServerProcess, uninterrupted: list[np.ndarray], tmp_path: Path
) -> None:
    job, weights, backup = "crashed", tmp_path / "weights.npz", tmp_path / "backup"
    preemptible_fit(shared_server, job, backup, weights, crash="end-after-backup:2")
    with Client(shared_server.url) as client:
        assert client.get_job(job).status == "failed"
        reported = [entry.epoch for entry in client.history(job, limit=100).items]
    assert reported == [0, 1, 2, 3], "every epoch's end reached the service before the crash"

    assert preemptible_fit(shared_server, job, backup, weights) == 0
    with np.load(weights) as saved:
        resumed = [saved[name] for name in saved.files]
    for got, want in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(got, want)
    with Client(shared_server.url) as client:
        assert client.get_job(job).status == "completed"


def test_a_second_fit_continues_the_job_where_the_first_ended(live_server: ServerProcess) -> None:
    client = Client(live_server.url)
    whole = fit(
        build_model(0.1),
        [RemoteLearningRate(job="one-fit", spec=QUICK_PLATEAU, verbose=0, client=client)],
        epochs=12,
    )
    model = build_model(0.1)
    callback = RemoteLearningRate(job="two-fits", spec=QUICK_PLATEAU, verbose=0, client=client)
    first = fit(model, [callback], epochs=6)
    assert client.get_job("two-fits").status == "completed"
    second = fit(model, [callback], epochs=6)  # what a user writes to train 6 more epochs

    assert len(first["loss"]) == len(second["loss"]) == 6, "Keras counts each fit from 0"
    assert first["learning_rate"] + second["learning_rate"] == whole["learning_rate"]
    assert first["val_loss"] + second["val_loss"] == whole["val_loss"]
    assert len(set(whole["learning_rate"])) > 1, "the plateau must reduce within the run"
    history = client.history("two-fits", limit=100, superseded=True).items
    assert [entry.epoch for entry in history] == list(range(12)), "nothing rewound"
    assert not any(entry.superseded for entry in history)
    assert client.get_job("two-fits").status == "completed"


def test_a_finished_fit_continued_by_a_new_callback_with_initial_epoch_goes_on_exactly(
    live_server: ServerProcess,
) -> None:
    # What a new process does with a saved model: a fresh callback, initial_epoch=6. Epoch 5's
    # metrics reached the service when the first fit ended, so epoch 6 is decided from them.
    client = Client(live_server.url)
    whole = fit(
        build_model(0.1),
        [RemoteLearningRate(job="in-one", spec=QUICK_PLATEAU, verbose=0, client=client)],
        epochs=12,
    )
    model = build_model(0.1)
    first = fit(
        model,
        [RemoteLearningRate(job="in-two", spec=QUICK_PLATEAU, verbose=0, client=client)],
        epochs=6,
    )
    later = RemoteLearningRate(job="in-two", spec=QUICK_PLATEAU, verbose=0, client=client)
    second = fit(model, [later], epochs=12, initial_epoch=6)

    assert first["learning_rate"] + second["learning_rate"] == whole["learning_rate"]
    assert first["val_loss"] + second["val_loss"] == whole["val_loss"]
    assert client.get_job("in-two").state == client.get_job("in-one").state


def test_the_second_fit_prints_the_job_epoch_it_continues_at(
    live_server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {"type": "constant", "learning_rate": 0.05}
    model = build_model(0.1)
    callback = RemoteLearningRate(job="printed", spec=spec, client=Client(live_server.url))
    fit(model, [callback], epochs=2)
    capsys.readouterr()
    fit(model, [callback], epochs=1)
    assert "Epoch 1: RemoteLearningRate setting learning rate to 0.05 (job epoch 2)" in (
        capsys.readouterr().out
    )


def test_a_reused_job_id_with_another_spec_warns_or_refuses(live_server: ServerProcess) -> None:
    client = Client(live_server.url)
    fit(build_model(0.1), [RemoteLearningRate(job="taken", spec=QUICK_PLATEAU, verbose=0,
                                              client=client)], epochs=1)  # fmt: skip
    other = {"type": "constant", "learning_rate": 0.01}
    with pytest.warns(RuntimeWarning, match="already exists with another spec"):
        logs = fit(
            build_model(0.1),
            [RemoteLearningRate(job="taken", spec=other, verbose=0, client=client)],
            epochs=2,
        )
    assert logs["learning_rate"][0] == pytest.approx(0.1), "the job keeps its own schedule"
    refusing = RemoteLearningRate(
        job="taken", spec=other, on_conflict="raise", verbose=0, client=client
    )
    with pytest.raises(JobConflict, match="another spec"):
        fit(build_model(0.1), [refusing], epochs=1)
    same = dict(QUICK_PLATEAU, cooldown=0)  # the same spec, a default spelled out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(build_model(0.1), [RemoteLearningRate(job="taken", spec=same, verbose=0,
                                                  client=client)], epochs=1)  # fmt: skip
    # No conflict; what is left is the warning that this new fit starts the job over.
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "starts it over at epoch 0" in messages[0], messages


def refused_model(kind: str) -> Any:
    if kind == "loss-scale-schedule":
        schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule))
    elif kind == "callable":
        optimizer = keras.optimizers.SGD(learning_rate=lambda: 0.1)
    else:
        optimizer = keras.optimizers.SGD(0.1)
    model = build_model(0.1)
    steps = 2 if kind == "steps-per-execution" else 1
    model.compile(optimizer=optimizer, loss="binary_crossentropy", steps_per_execution=steps)
    return model


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("loss-scale-schedule", "inside LossScaleOptimizer"),
        ("callable", "callable learning_rate"),
        ("steps-per-execution", "steps_per_execution=2"),
    ],
)
def test_unsettable_rates_are_refused_before_the_job_is_registered(
    live_server: ServerProcess, kind: str, message: str
) -> None:
    client = Client(live_server.url)
    callback = RemoteLearningRate(
        job=f"refused-{kind}", spec=QUICK_PLATEAU, per_step=True, verbose=0, client=client
    )
    with pytest.raises(ValueError, match=message):
        fit(refused_model(kind), [callback], epochs=1)
    with pytest.raises(NotFound):
        client.get_job(f"refused-{kind}")


def test_mixed_precision_gets_the_rates_of_a_local_scheduler(live_server: ServerProcess) -> None:
    def scaled(learning_rate: float) -> Any:
        model = build_model(learning_rate)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate, 0.9))
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
        return model

    def drop(epoch: int) -> float:
        return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 3))

    spec = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 3,
            "offset": 1}  # fmt: skip
    local = fit(scaled(0.1), [keras.callbacks.LearningRateScheduler(drop)], epochs=8)
    callback = RemoteLearningRate(job="mixed", spec=spec, verbose=0, client=Client(live_server.url))
    remote = fit(scaled(0.1), [callback], epochs=8)
    assert remote["learning_rate"] == local["learning_rate"] == float32([drop(e) for e in range(8)])
    assert remote["val_loss"] == local["val_loss"]


def test_another_rate_setting_callback_in_the_fit_is_warned_about(
    live_server: ServerProcess,
) -> None:
    callback = RemoteLearningRate(
        job="fought", spec=QUICK_PLATEAU, verbose=0, client=Client(live_server.url)
    )
    fighting = keras.callbacks.LearningRateScheduler(lambda epoch: 0.5)
    with pytest.warns(RuntimeWarning, match="another callback changed the learning rate"):
        fit(build_model(0.1), [callback, fighting], epochs=3)


def test_copies_and_pickles_train_with_their_own_client(live_server: ServerProcess) -> None:
    original = RemoteLearningRate(
        job="copied", spec=QUICK_PLATEAU, verbose=0, client=Client(live_server.url, timeout=7)
    )
    deep = copy.deepcopy(original)
    unpickled = pickle.loads(pickle.dumps(original))
    for copied in (deep, unpickled):
        assert copied.client is not original.client
        assert (copied.client.url, copied.client.timeout) == (live_server.url, 7)
    logs = fit(build_model(0.1), [unpickled], epochs=3)
    reference = fit(
        build_model(0.1),
        [RemoteLearningRate(job="copied-ref", spec=QUICK_PLATEAU, verbose=0,
                            client=Client(live_server.url))],
        epochs=3,
    )  # fmt: skip
    assert logs["learning_rate"] == reference["learning_rate"]
    assert logs["val_loss"] == reference["val_loss"]


def test_copies_sharing_a_job_id_warn_when_one_starts_the_job_over(
    live_server: ServerProcess,
) -> None:
    # What a tuner does with a callback given to search(): a copy per trial, one job id.
    shared = RemoteLearningRate(job="trials", spec=QUICK_PLATEAU, verbose=0,
                                client=Client(live_server.url))  # fmt: skip
    first, second = copy.deepcopy(shared), copy.deepcopy(shared)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(build_model(0.1), [first], epochs=2)
        assert not [w for w in caught if "starts it over" in str(w.message)]
        fit(build_model(0.1), [second], epochs=2)
    (warning,) = [w for w in caught if "starts it over" in str(w.message)]
    assert "'trials'" in str(warning.message) and "own job id" in str(warning.message)


def test_tensorboard_records_the_rate_the_service_decided(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
    callback = RemoteLearningRate(
        job="boarded", spec=spec, verbose=0, client=Client(live_server.url)
    )
    logs = fit(build_model(0.1), [callback, keras.callbacks.TensorBoard(str(tmp_path))], epochs=6)
    events = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    events.Reload()
    recorded = [
        float(keras.ops.convert_to_numpy(tf_tensor(event))) for event in
        events.Tensors("epoch_learning_rate")
    ]  # fmt: skip
    assert recorded == logs["learning_rate"] == float32([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


def tf_tensor(event: Any) -> Any:
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


def test_a_fit_whose_last_loss_is_not_finite_reports_the_job_failed(
    live_server: ServerProcess,
) -> None:
    class Diverging(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        """The loss of a diverged fit, on every backend (a huge rate saturates on some)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is not None and epoch == 2:
                logs["loss"] = float("nan")

    client = Client(live_server.url)
    callback = RemoteLearningRate(job="diverged", spec=QUICK_PLATEAU, verbose=0, client=client)
    fit(build_model(0.1), [Diverging(), callback], epochs=3)
    assert client.get_job("diverged").status == "failed"
    history = client.history("diverged").items
    assert history[-1].metrics is not None and "loss" not in history[-1].metrics, "NaN not sent"
