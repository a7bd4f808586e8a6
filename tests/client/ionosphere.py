"""The Ionosphere experiment (the Keras tutorial on time- and drop-based decay) for the Keras
tests: data, model, deterministic fits, and a callback that acts at fixed epochs inside a fit."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

DATA_PATH = Path(__file__).resolve().parents[1] / "data" / "ionosphere.csv"
SEED = 7
BATCH_SIZE = 28
VALIDATION_SPLIT = 0.33
# Reduces the rate within a few epochs of these fits (patience 1, any non-improvement counts).
QUICK_PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "min_delta": 0.0,
    "initial_learning_rate": 0.1,
}

# Bit-identical fits (remote callback against Keras's own) need deterministic kernels.
tf.config.experimental.enable_op_determinism()


def load_ionosphere() -> tuple[np.ndarray, np.ndarray]:
    """34 float features and the label (g → 1, b → 0) of each of the 351 radar returns."""
    with DATA_PATH.open(newline="") as data:
        rows = list(csv.reader(data))
    features = np.array([[float(value) for value in row[:34]] for row in rows], dtype="float32")
    labels = np.array([1.0 if row[34] == "g" else 0.0 for row in rows], dtype="float32")
    return features, labels


def build_model(
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.1,
    momentum: float = 0.9,
) -> keras.Model:
    """The Ionosphere network (34 relu units, 1 sigmoid), SGD with momentum, seeded weights."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input(shape=(34,)),
            keras.layers.Dense(34, activation="relu", kernel_initializer="random_normal"),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer="random_normal"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit(
    model: keras.Model,
    callbacks: list[keras.callbacks.Callback],
    *,
    epochs: int,
    initial_epoch: int = 0,
) -> dict[str, list[Any]]:
    """Fit on Ionosphere like the experiment (batch 28, 33% validation); the History's lists."""
    features, labels = load_ionosphere()
    history = model.fit(
        features,
        labels,
        validation_split=VALIDATION_SPLIT,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=0,
    )
    return dict(history.history)


class AtEpochEnd(keras.callbacks.Callback):  # type: ignore[misc]
    """Runs `actions[epoch]()` at the end of that epoch: a deterministic point inside a fit."""

    def __init__(self, actions: dict[int, Callable[[], None]]) -> None:
        super().__init__()
        self.actions = actions

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch in self.actions:
            self.actions[epoch]()
