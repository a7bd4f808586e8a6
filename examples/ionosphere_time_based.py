"""seeds/003's time-based learning-rate decay on Ionosphere, with the schedule kept in lrhub.

Keras 2's `SGD(lr=0.1, decay=0.002)` lowered the rate at every update: 0.1 / (1 + 0.002 * step).
Keras 3 dropped `decay`; here it is an `inverse_time_decay` with `unit: step`, and the callback
applies the per-step rates the service answers once per epoch (`per_step=True`). Start a server
first (`lrhub serve`), then:

    python examples/ionosphere_time_based.py [--url http://127.0.0.1:8000] [--data ionosphere.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import uuid
from pathlib import Path

import keras
import numpy as np
from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

REPO_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "ionosphere.csv"
EPOCHS = 50
LEARNING_RATE = 0.1
SCHEDULE = {
    "type": "inverse_time_decay",
    "initial_learning_rate": LEARNING_RATE,
    "decay_steps": 1,
    "decay_rate": LEARNING_RATE / EPOCHS,
    "unit": "step",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("LRHUB_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--data", type=Path, default=REPO_DATA, help="ionosphere.csv")
    parser.add_argument("--job", default=f"ionosphere-time-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()

    with args.data.open(newline="") as data:
        rows = list(csv.reader(data))
    features = np.array([row[:34] for row in rows], dtype="float32")
    labels = np.array([row[34] == "g" for row in rows], dtype="float32")

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(34,)),
            keras.layers.Dense(34, activation="relu", kernel_initializer="random_normal"),
            keras.layers.Dense(1, activation="sigmoid", kernel_initializer="random_normal"),
        ]
    )
    sgd = keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.8)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])

    client = Client(args.url)
    callback = RemoteLearningRate(job=args.job, spec=SCHEDULE, per_step=True, client=client)
    history = model.fit(
        features, labels, validation_split=0.33, epochs=EPOCHS, batch_size=28,
        callbacks=[callback], verbose=2,
    )  # fmt: skip
    job = client.get_job(args.job)
    print(f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}")
    print(f"job {job.job_id}: last epoch {job.last_epoch}, rate {job.learning_rate}")


if __name__ == "__main__":
    main()
