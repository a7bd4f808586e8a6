"""Reduce the learning rate when val_loss stops improving, with the plateau state kept in lrhub.

Like `keras.callbacks.ReduceLROnPlateau`, but the counters live in the service: a preempted job
restarted with `initial_epoch` continues them, and an operator can watch or steer the job
(`lrhub jobs show`, `lrhub jobs override`). After 3 reductions at the floor, `stop_patience`
answers stop. Start a server first (`lrhub serve`), then:

    python examples/plateau.py [--url http://127.0.0.1:8000] [--data ionosphere.csv]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import uuid
from pathlib import Path

import keras
import numpy as np
from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

REPO_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "ionosphere.csv"
SCHEDULE = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "initial_learning_rate": 0.1,
    "factor": 0.5,
    "patience": 3,
    "min_lr": 0.005,
    "stop_patience": 5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("LRHUB_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--data", type=Path, default=REPO_DATA, help="ionosphere.csv")
    parser.add_argument("--job", default=f"ionosphere-plateau-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()

    with args.data.open(newline="") as data:
        rows = list(csv.reader(data))
    features = np.array([row[:34] for row in rows], dtype="float32")
    labels = np.array([row[34] == "g" for row in rows], dtype="float32")

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(34,)),
            keras.layers.Dense(34, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    sgd = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])

    client = Client(args.url)
    callback = RemoteLearningRate(
        job=args.job, spec=SCHEDULE, labels={"example": "plateau"}, client=client
    )
    history = model.fit(
        features, labels, validation_split=0.33, epochs=args.epochs, batch_size=28,
        callbacks=[callback], verbose=0,
    )  # fmt: skip
    rates = history.history["learning_rate"]
    print(f"trained {len(rates)} epochs; rate {rates[0]:g} -> {rates[-1]:g}")
    entries = client.history(args.job, limit=1000).items
    for before, entry in itertools.pairwise(entries):
        if entry.learning_rate != before.learning_rate or entry.stop:
            print(f"epoch {entry.epoch}: {entry.reason}")


if __name__ == "__main__":
    main()
