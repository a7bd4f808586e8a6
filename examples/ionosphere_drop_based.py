"""seeds/003's drop-based learning-rate decay on Ionosphere, with the schedule kept in lrhub.

The rate halves every 10 epochs (0.1 * 0.5^floor((1 + epoch) / 10)); the service stores the schedule
as a named version and the job's every decision. Start a server first (`lrhub serve`), then:

    python examples/ionosphere_drop_based.py [--url http://127.0.0.1:8000] [--data ionosphere.csv]
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
SCHEDULE = {
    "type": "step_decay",
    "initial_learning_rate": 0.1,
    "drop": 0.5,
    "every": 10,
    "offset": 1,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("LRHUB_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--data", type=Path, default=REPO_DATA, help="ionosphere.csv")
    parser.add_argument("--job", default=f"ionosphere-drop-{uuid.uuid4().hex[:8]}")
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
    # The rate given here is never used: the callback sets it before the first batch.
    sgd = keras.optimizers.SGD(learning_rate=0.0, momentum=0.9)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])

    client = Client(args.url)
    client.put_schedule("ionosphere-drop", SCHEDULE, description="seeds/003 drop-based decay")
    callback = RemoteLearningRate(job=args.job, schedule="ionosphere-drop", client=client)
    history = model.fit(
        features, labels, validation_split=0.33, epochs=50, batch_size=28,
        callbacks=[callback], verbose=2,
    )  # fmt: skip
    print(f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}; job {args.job}:")
    print(client.history_csv(args.job))


if __name__ == "__main__":
    main()
