"""What the examples share: the Ionosphere experiment's data, network and command-line options.

Not runnable itself; each example next to it is (`python examples/<name>.py`).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
import uuid
from pathlib import Path
from typing import Any

# TensorFlow's C++ start-up logs are for its developers, not for a person running an example.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

REPO_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "ionosphere.csv"


def arguments(description: str, job_prefix: str) -> argparse.ArgumentParser:
    """`--url` (default LRHUB_URL), `--data` (default the repository's copy) and `--job`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default=os.environ.get("LRHUB_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--data", type=Path, default=REPO_DATA, help="path of ionosphere.csv")
    parser.add_argument("--job", default=f"{job_prefix}-{uuid.uuid4().hex[:8]}", help="job id")
    return parser


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """34 features per radar return; label 1 for "g" (good), 0 for "b"."""
    with path.open(newline="") as data:
        rows = list(csv.reader(data))
    features = np.array([row[:34] for row in rows], dtype="float32")
    labels = np.array([row[34] == "g" for row in rows], dtype="float32")
    return features, labels


def build_model(learning_rate: float, momentum: float) -> Any:
    """The Ionosphere network (Dense(34, relu) → Dense(1, sigmoid)) and SGD, with seed 7."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(34,)),
            keras.layers.Dense(34, activation="relu", kernel_initializer="random_normal"),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer="random_normal"),
        ]
    )
    sgd = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


def fit(
    model: Any,
    data: Path,
    callback: keras.callbacks.Callback,
    epochs: int,
    *,
    seconds_per_epoch: float = 0.0,
    verbose: int = 2,
) -> Any:
    """The Ionosphere experiment's fit: batch 28, the last 33% for validation; the History.

    `seconds_per_epoch` pauses after each epoch, so that a person has time to steer a run that
    would otherwise be over in seconds (as a real model's epochs take minutes). `verbose` is
    Keras' (0: no line per epoch).
    """
    features, labels = load(data)
    callbacks = [callback]
    if seconds_per_epoch > 0:
        callbacks.append(
            keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: time.sleep(seconds_per_epoch))
        )
    return model.fit(
        features, labels, validation_split=0.33, epochs=epochs, batch_size=28,
        callbacks=callbacks, verbose=verbose,
    )  # fmt: skip
