"""Training overhead: the Ionosphere experiment's fit with lrhub's callback against local Keras.

Epoch mode: `RemoteLearningRate` against `keras.callbacks.LearningRateScheduler` with the same
drop-based schedule (target: within 3%). Step mode: `RemoteLearningRate(per_step=True)` against
a `keras.optimizers.schedules.LearningRateSchedule` object (target: within 5%). Each pair runs
both fits back to back, in alternating order; the figure is the median of the pairs' ratios.
Only `model.fit` is timed; every fit builds a fresh model from the same seed.

The run also measures the SQLite durable floor's round trip (the no-op endpoint committing one
INSERT) before and after the fits, and reports each mode's `floor bound`: the ratio a remote
fit would reach if each of its round trips (the job, one decision per epoch, the last epoch's
end report and the status) cost only that floor and nothing else did. A fit asks once an epoch,
and a machine that idled for an epoch answers slower than one asked back to back, so the floor
is measured a second time at the fit's pace (one request per local epoch's time) for the
`paced floor bound`. A target below it cannot be met by any durable service answering over
HTTP once an epoch. Beside them: lrhub's decision through the client's `JobRun`, back to back
and at the fit's pace, and what each of the epoch-mode callback's round trips cost inside the
fit (its own time over its round trips).

The bound is arithmetic; each mode also runs a third fit, the **durable floor fit**: a callback
that makes the same 53 round trips to the SQLite durable floor and the same rate writes (rates
computed in process), so what any remote callback must cost in this fit is measured in it. The
three fits of a round take turns in rotated order; `median_floor_ratio` is the floor fit over
the local one, `median_ratio_over_floor` lrhub's over the floor fit.

    python -m bench --only training [--quick]
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.config import BenchConfig
from bench.latency import durable_sqlite_floor, floor_round_trip
from bench.machine import REPOSITORY
from bench.servers import lrhub_server
from bench.stats import TimedRun, paired_runs
from bench.targets import Target
from bench.workload import decision_body, decision_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import httpx
import keras
import numpy as np

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate, _assign
from lrhub.client.training import JobRun

DATA = REPOSITORY / "tests" / "data" / "ionosphere.csv"
EPOCHS = 50
BATCH_SIZE = 28
SEED = 7
EPOCH_TARGET = 0.03
STEP_TARGET = 0.05
# Round trips of a remote fit: creating the job, one decision per epoch, the last epoch's end
# report, the status at the end.
ROUND_TRIPS = 1 + EPOCHS + 2

# The Ionosphere experiment's drop-based decay: 0.1 x 0.5^floor((1 + epoch) / 10).
DROP_SPEC = {
    "type": "step_decay",
    "initial_learning_rate": 0.1,
    "drop": 0.5,
    "every": 10,
    "offset": 1,
}
# Per step: halve every 50 optimizer updates (Ionosphere: 9 updates per epoch).
STEP_DECAY_STEPS = 50
STEP_SPEC = {
    "type": "exponential_decay",
    "initial_learning_rate": 0.1,
    "decay_steps": STEP_DECAY_STEPS,
    "decay_rate": 0.5,
    "unit": "step",
}


def drop_schedule(epoch: int) -> float:
    """The Ionosphere experiment's `step_decay`, for LearningRateScheduler."""
    return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 10))


def step_schedule(step: int) -> float:
    """`STEP_SPEC` at optimizer step `step`, as Keras's ExponentialDecay(0.1, 50, 0.5) gives it."""
    return 0.1 * math.pow(0.5, step / STEP_DECAY_STEPS)


def load_ionosphere() -> tuple[np.ndarray, np.ndarray]:
    """34 float features; the label is 1 for "g" (good), 0 for "b", as LabelEncoder gives."""
    with DATA.open() as handle:
        rows = list(csv.reader(handle))
    features = np.array([[float(value) for value in row[:34]] for row in rows])
    labels = np.array([1.0 if row[34] == "g" else 0.0 for row in rows])
    return features, labels


def build_model(learning_rate: float | keras.optimizers.schedules.LearningRateSchedule) -> Any:
    """The Ionosphere network: Dense(34, relu) → Dense(1, sigmoid), SGD with momentum 0.9."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input(shape=(34,)),
            keras.layers.Dense(34, kernel_initializer="random_normal", activation="relu"),
            keras.layers.Dense(1, kernel_initializer="random_normal", activation="sigmoid"),
        ]
    )
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


class TimedCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Runs another callback's hooks and adds up the time they take inside the fit.

    Measured within one fit, this is immune to the fit-to-fit noise of a shared machine.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.seconds = 0.0

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params: Any) -> None:
        super().set_params(params)
        self.inner.set_params(params)

    def _timed(self, hook: str, *args: Any) -> None:
        started = time.perf_counter()
        getattr(self.inner, hook)(*args)
        self.seconds += time.perf_counter() - started

    def on_train_begin(self, logs: Any = None) -> None:
        self._timed("on_train_begin", logs)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._timed("on_epoch_begin", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self._timed("on_train_batch_begin", batch, logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._timed("on_epoch_end", epoch, logs)

    def on_train_end(self, logs: Any = None) -> None:
        self._timed("on_train_end", logs)


class DurableFloorCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """The least a remote callback can do in a fit, against the durable floor.

    It makes `RemoteLearningRate`'s round trips, each a committed INSERT answering a
    decision-sized body: one when training begins (registering the job), one before epoch 0,
    one at each epoch's end (the next epoch's decision, or the last epoch's report), one when
    training ends (the status). It writes the rates the same way (per step: before each batch
    but the first, whose rate the epoch's start wrote), computing them in process, and reads the
    rate back at each epoch's end for the logs, as `LearningRateScheduler` does.
    """

    def __init__(self, http: httpx.Client, job: str, *, per_step: bool) -> None:
        super().__init__()
        self.http = http
        self.job = job
        self.per_step = per_step
        self._round_trips = 0
        self._step_rates: list[float] = []

    def _round_trip(self) -> None:
        epoch = self._round_trips
        self.http.post(decision_path(self.job, epoch), json=decision_body(epoch)).raise_for_status()
        self._round_trips += 1

    def on_train_begin(self, logs: Any = None) -> None:
        self._round_trip()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        if epoch == 0:
            self._round_trip()
        if self.per_step:
            steps = self.params["steps"]
            self._step_rates = [step_schedule(epoch * steps + batch) for batch in range(steps)]
            rate = self._step_rates[0]
        else:
            rate = drop_schedule(epoch)
        _assign(self.model.optimizer.learning_rate, rate)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if 0 < batch < len(self._step_rates):
            _assign(self.model.optimizer.learning_rate, self._step_rates[batch])

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if logs is not None:
            logs["learning_rate"] = final_rate(self.model)
        self._round_trip()

    def on_train_end(self, logs: Any = None) -> None:
        self._round_trip()


def timed_fit(
    model: Any, data: tuple[np.ndarray, np.ndarray], callbacks: list[Any]
) -> tuple[float, float]:
    """Seconds spent in `model.fit` (the Ionosphere settings, silent), and in the callbacks."""
    features, labels = data
    timed = [TimedCallback(callback) for callback in callbacks]
    started = time.perf_counter()
    model.fit(
        features,
        labels,
        validation_split=0.33,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        callbacks=timed,
        verbose=0,
    )
    return time.perf_counter() - started, sum(callback.seconds for callback in timed)


def final_rate(model: Any) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


FitSetup = Callable[[int], tuple[Any, list[Any]]]


def paired_fits(
    local: FitSetup,
    remote: FitSetup,
    floor: FitSetup,
    pairs: int,
    data: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """`pairs` rounds of (local, remote, floor) fits in rotated order after a warm-up round."""

    def timed(setup: FitSetup) -> Callable[[int], TimedRun]:
        def fit(index: int) -> TimedRun:
            model, callbacks = setup(index)
            seconds, in_callbacks = timed_fit(model, data, callbacks)
            return TimedRun(seconds, in_callbacks, final_rate(model))

        return fit

    return paired_runs(timed(local), timed(remote), pairs, inside="callback", floor=timed(floor))


def decision_seconds(client: Client, job: str, pace: float = 0.0) -> float:
    """The median seconds of a new job's decisions through `JobRun`, nothing else running;
    with `pace`, that many seconds of idling before each, as between a fit's epochs."""
    run = JobRun.for_adapter("bench", job=job, schedule="ionosphere-drop", client=client)
    run.start()
    seconds = []
    for epoch in range(EPOCHS):
        if pace:
            time.sleep(pace)
        started = time.perf_counter()
        run.decide(epoch, {"loss": 0.5, "val_loss": 0.5} if epoch else {})
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


@dataclass
class RemoteService:
    """A real lrhub holding the two schedules, with a client for the callbacks, and the SQLite
    durable floor beside it, with a client for the floor fits."""

    client: Client
    floor: Target
    floor_http: httpx.Client

    def floor_round_trip(self, pace: float = 0.0) -> float:
        """The durable floor's median round trip (seconds)."""
        return floor_round_trip(self.floor_http, self.floor, pace)


@contextmanager
def remote_service(config: BenchConfig) -> Iterator[RemoteService]:
    """A real lrhub (SQLite, one worker) and the durable floor for the fits, stopped after."""
    workdir = config.workdir / "training"
    with lrhub_server(workdir) as server, Client(server.url) as client:
        client.put_schedule("ionosphere-drop", DROP_SPEC)
        client.put_schedule("ionosphere-steps", STEP_SPEC)
        with (
            durable_sqlite_floor(workdir, server.url) as floor,
            httpx.Client(base_url=floor.server.url, timeout=30) as floor_http,
        ):
            yield RemoteService(client, floor, floor_http)


def run(config: BenchConfig) -> dict[str, Any]:
    """Epoch-mode and step-mode overhead of the remote callback, as median pair ratios."""
    pairs = config.scaled(quick=1, full=7)
    data = load_ionosphere()

    def epoch_local(_: int) -> tuple[Any, list[Any]]:
        return build_model(0.1), [keras.callbacks.LearningRateScheduler(drop_schedule)]

    def epoch_remote(index: int) -> tuple[Any, list[Any]]:
        callback = RemoteLearningRate(
            job=f"fit-epoch-{index}",
            schedule="ionosphere-drop",
            verbose=0,
            client=service.client,
        )
        return build_model(0.1), [callback]

    def epoch_floor(index: int) -> tuple[Any, list[Any]]:
        callback = DurableFloorCallback(service.floor_http, f"floor-epoch-{index}", per_step=False)
        return build_model(0.1), [callback]

    def step_local(_: int) -> tuple[Any, list[Any]]:
        schedule = keras.optimizers.schedules.ExponentialDecay(0.1, STEP_DECAY_STEPS, 0.5)
        return build_model(schedule), []

    def step_remote(index: int) -> tuple[Any, list[Any]]:
        callback = RemoteLearningRate(
            job=f"fit-step-{index}",
            schedule="ionosphere-steps",
            per_step=True,
            verbose=0,
            client=service.client,
        )
        return build_model(0.1), [callback]

    def step_floor(index: int) -> tuple[Any, list[Any]]:
        callback = DurableFloorCallback(service.floor_http, f"floor-step-{index}", per_step=True)
        return build_model(0.1), [callback]

    with remote_service(config) as service:
        floor_before = service.floor_round_trip()
        decision = decision_seconds(service.client, "decisions")
        epoch_mode = paired_fits(epoch_local, epoch_remote, epoch_floor, pairs, data)
        step_mode = paired_fits(step_local, step_remote, step_floor, pairs, data)
        floor = (floor_before + service.floor_round_trip()) / 2
        # The pace of the local fit's epochs: each remote decision follows that much training.
        pace = epoch_mode["median_local_seconds"] / EPOCHS
        paced_floor = service.floor_round_trip(pace)
        paced_decision = decision_seconds(service.client, "paced-decisions", pace)
    in_fit = statistics.median(epoch_mode["remote_callback_seconds"]) / ROUND_TRIPS
    for mode, target in ((epoch_mode, EPOCH_TARGET), (step_mode, STEP_TARGET)):
        mode["target"] = 1 + target
        mode["target_met"] = mode["median_ratio"] <= 1 + target
        local = mode["median_local_seconds"]
        mode["floor_bound"] = round(1 + ROUND_TRIPS * floor / local, 4)
        mode["paced_floor_bound"] = round(1 + ROUND_TRIPS * paced_floor / local, 4)
    return {
        "pairs": pairs,
        "epochs": EPOCHS,
        "batch_size": BATCH_SIZE,
        "pace_ms": round(1000 * pace, 1),
        "floor_round_trip_ms": round(1000 * floor, 3),
        "paced_floor_round_trip_ms": round(1000 * paced_floor, 3),
        "decision_ms": round(1000 * decision, 3),
        "paced_decision_ms": round(1000 * paced_decision, 3),
        "epoch_round_trip_in_fit_ms": round(1000 * in_fit, 3),
        "epoch_mode": epoch_mode,
        "step_mode": step_mode,
    }
