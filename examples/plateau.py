"""Reduce the learning rate when val_loss stops improving, with the plateau state kept in lrhub.

Like `keras.callbacks.ReduceLROnPlateau`, but the counters live in the service: a preempted job
restarted with `initial_epoch` continues them, and an operator can watch or steer the job
(`lrhub jobs show`, `lrhub jobs override`). Five epochs without improvement at `min_lr`
(`stop_patience`) answer stop, which ends the fit. Start a server first (`lrhub serve`), then:

    python examples/plateau.py [--url http://127.0.0.1:8000] [--data ionosphere.csv] \\
        [--seconds-per-epoch 1]
"""

from __future__ import annotations

import itertools

from ionosphere import arguments, build_model, fit

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

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
    parser = arguments(__doc__.splitlines()[0], "ionosphere-plateau")
    parser.add_argument("--epochs", type=int, default=200, help="at most; stop may end it sooner")
    parser.add_argument(
        "--seconds-per-epoch", type=float, default=0.0, help="pause after each epoch, to steer it"
    )
    args = parser.parse_args()
    client = Client(args.url)
    callback = RemoteLearningRate(
        job=args.job, spec=SCHEDULE, labels={"example": "plateau"}, verbose=0, client=client
    )
    model = build_model(learning_rate=0.1, momentum=0.9)
    history = fit(model, args.data, callback, args.epochs, seconds_per_epoch=args.seconds_per_epoch)
    rates = history.history["learning_rate"]
    print(f"trained {len(rates)} epochs; rate {rates[0]:g} -> {rates[-1]:g}")
    entries = client.history(args.job, limit=1000).items
    for before, entry in itertools.pairwise(entries):
        if entry.learning_rate != before.learning_rate or entry.stop:
            print(f"epoch {entry.epoch}: {entry.reason}")


if __name__ == "__main__":
    main()
