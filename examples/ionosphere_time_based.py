"""The time-based learning-rate decay of the Ionosphere experiment, with the schedule in lrhub.

Keras 2's `SGD(lr=0.1, decay=0.002)` lowered the rate at every update: 0.1 / (1 + 0.002 * step).
Keras 3 dropped `decay`; here it is an `inverse_time_decay` with `unit: step`, and the callback
applies the per-step rates the service answers once per epoch (`per_step=True`). Start a server
first (`lrhub serve`), then:

    python examples/ionosphere_time_based.py [--url http://127.0.0.1:8000] [--data ionosphere.csv]
"""

from __future__ import annotations

from ionosphere import arguments, build_model, fit

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

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
    args = arguments(__doc__.splitlines()[0], "ionosphere-time").parse_args()
    client = Client(args.url)
    callback = RemoteLearningRate(job=args.job, spec=SCHEDULE, per_step=True, client=client)
    model = build_model(learning_rate=LEARNING_RATE, momentum=0.8)
    history = fit(model, args.data, callback, epochs=EPOCHS)
    job = client.get_job(args.job)
    print(f"final val_accuracy {history.history['val_accuracy'][-1]:.4f}")
    print(f"job {job.job_id}: last epoch {job.last_epoch}, rate {job.learning_rate}")


if __name__ == "__main__":
    main()
