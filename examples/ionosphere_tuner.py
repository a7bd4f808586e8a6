"""A KerasTuner search over the Ionosphere network's momentum, every trial its own lrhub job.

A tuner deep-copies the callbacks given to `search()` for each trial, so one RemoteLearningRate
there would make every trial the same job (each trial would start it over at epoch 0). The tuner
below gives each trial a callback of its own job, named after the search and the trial. Start a
server first (`lrhub serve`), then:

    python examples/ionosphere_tuner.py [--url http://127.0.0.1:8000] [--job SEARCH-ID]
"""

from __future__ import annotations

import tempfile
from typing import Any

import keras_tuner
from ionosphere import arguments, build_model, load

from lrhub.client import Client
from lrhub.client.keras import RemoteLearningRate

SCHEDULE = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
EPOCHS = 4


class RemoteRateSearch(keras_tuner.RandomSearch):  # type: ignore[misc]
    """Random search whose every trial is the lrhub job "<search>-trial-<id>"."""

    def __init__(self, *args: Any, search: str, client: Client, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.search_id, self.client = search, client

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        job = f"{self.search_id}-trial-{trial.trial_id}"
        callback = RemoteLearningRate(job=job, spec=SCHEDULE, client=self.client, verbose=0)
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), callback]
        return super().run_trial(trial, *args, **kwargs)


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "ionosphere-search").parse_args()
    features, labels = load(args.data)
    with tempfile.TemporaryDirectory() as directory, Client(args.url) as client:
        tuner = RemoteRateSearch(
            lambda hp: build_model(0.0, hp.Choice("momentum", [0.5, 0.9])),
            objective="val_accuracy", max_trials=2, directory=directory, project_name="search",
            search=args.job, client=client,
        )  # fmt: skip
        tuner.search(
            features, labels, validation_split=0.33, batch_size=28, epochs=EPOCHS, verbose=0
        )
        for trial in tuner.oracle.get_best_trials(num_trials=2):
            job = client.get_job(f"{args.job}-trial-{trial.trial_id}")
            momentum = trial.hyperparameters["momentum"]
            print(f"{job.job_id}: momentum {momentum}, {job.status}, last epoch {job.last_epoch}")


if __name__ == "__main__":
    main()
