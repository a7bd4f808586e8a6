"""The drop-based learning-rate decay of the Ionosphere experiment, with the schedule in lrhub.

The rate halves every 10 epochs (0.1 * 0.5^floor((1 + epoch) / 10)); the service stores the schedule
as a named version and the job's every decision. Start a server first (`lrhub serve`), then:

    python examples/ionosphere_drop_based.py [--url http://127.0.0.1:8000] [--data ionosphere.csv]
"""

from __future__ import annotations

from ionosphere import arguments, build_model, fit

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

SCHEDULE = {
    "type": "step_decay",
    "initial_learning_rate": 0.1,
    "drop": 0.5,
    "every": 10,
    "offset": 1,
}


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "ionosphere-drop").parse_args()
    client = Client(args.url)
    client.put_schedule("ionosphere-drop", SCHEDULE, description="Ionosphere drop-based decay")
    callback = RemoteLearningRate(job=args.job, schedule="ionosphere-drop", client=client)
    # The rate given to SGD is never used: the callback sets it before the first batch.
    model = build_model(learning_rate=0.0, momentum=0.9)
    history = fit(model, args.data, callback, epochs=50, verbose=0)
    rates = history.history["learning_rate"]
    # One line, not an epoch's: `lrhub jobs history` shows every epoch.
    print(
        f"job {args.job}: 50 epochs, rate {rates[0]:g} -> {rates[-1]:g}, "
        f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}"
    )


if __name__ == "__main__":
    main()
