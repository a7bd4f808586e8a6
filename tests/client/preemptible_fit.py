"""A training process that can be killed at a chosen point around an epoch's end.

    python -m tests.client.preemptible_fit URL JOB BACKUP_DIR WEIGHTS [--kill POINT:EPOCH]
                                                                      [--crash POINT:EPOCH]

Fits the Ionosphere model for EPOCHS epochs with `RemoteLearningRate` (a plateau spec, so the
rates depend on every epoch's metrics) and `keras.callbacks.BackupAndRestore`, in the order the
callback's documentation asks (RemoteLearningRate first). With `--kill`, the process SIGKILLs
itself at POINT of that epoch; with `--crash`, it raises an exception there that nobody catches
(a bug in the training code). Run again with the same BACKUP_DIR it resumes, as a preempted
pod's successor does. At the end it saves the model's weights to WEIGHTS (.npz).
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

import keras
import numpy as np

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate
from tests.client.ionosphere import build_model, load_ionosphere

EPOCHS = 6
# Unshuffled, val_loss improves by about 0.1 an epoch: this plateau reduces within the fit, so
# the state moved by every epoch's metrics decides the rates after it.
PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "min_delta": 0.11,
    "initial_learning_rate": 0.1,
}
# Where a preemption can land: (hook, which callback it runs before).
POINTS = (
    "end-before-report",  # the epoch's logs exist, nothing reported or saved
    "end-after-report",  # reported to lrhub, not backed up
    "end-after-backup",  # reported and backed up
    "begin-next",  # the next epoch starts, its rate not set yet
    "train-end",  # every epoch done, the job not reported completed
)


class Crash(RuntimeError):
    """The exception `--crash` raises."""


class Preemption(keras.callbacks.Callback):  # type: ignore[misc]
    """SIGKILLs this process when `kill` names one of its points (raises `Crash` when `crash`
    does): `at_end` in on_epoch_end, and (`first`: listed before RemoteLearningRate)
    begin-next and train-end."""

    def __init__(
        self,
        at_end: str,
        kill: tuple[str, int] | None,
        *,
        crash: tuple[str, int] | None = None,
        first: bool = False,
    ) -> None:
        super().__init__()
        self.points = {at_end, "begin-next", "train-end"} if first else {at_end}
        self.at_end = at_end
        self.kill = kill
        self.crash = crash

    def _maybe_die(self, point: str, epoch: int) -> None:
        if point not in self.points:
            return
        if self.kill == (point, epoch):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.crash == (point, epoch):
            raise Crash(f"crashed at {point} of epoch {epoch}")

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._maybe_die(self.at_end, epoch)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._maybe_die("begin-next", epoch - 1)

    def on_train_end(self, logs: Any = None) -> None:
        self._maybe_die("train-end", EPOCHS - 1)


def _point(text: str) -> tuple[str, int]:
    point, epoch = text.split(":")
    return point, int(epoch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("job")
    parser.add_argument("backup_dir")
    parser.add_argument("weights")
    parser.add_argument("--kill", type=_point, default=None, help="POINT:EPOCH")
    parser.add_argument("--crash", type=_point, default=None, help="POINT:EPOCH")
    args = parser.parse_args()
    kill, crash = args.kill, args.crash
    model = build_model(0.1)
    features, labels = load_ionosphere()
    callbacks = [
        Preemption("end-before-report", kill, crash=crash, first=True),
        RemoteLearningRate(job=args.job, spec=PLATEAU, verbose=0, client=Client(args.url)),
        Preemption("end-after-report", kill, crash=crash),
        keras.callbacks.BackupAndRestore(args.backup_dir),
        Preemption("end-after-backup", kill, crash=crash),
    ]
    # No shuffling: a resumed process must see each epoch's batches as the first one did.
    model.fit(
        features, labels, validation_split=0.33, batch_size=28, epochs=EPOCHS,
        shuffle=False, callbacks=callbacks, verbose=0,
    )  # fmt: skip
    np.savez(args.weights, *model.get_weights())


if __name__ == "__main__":
    main()
