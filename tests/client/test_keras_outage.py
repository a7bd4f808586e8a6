"""RemoteLearningRate through a real outage: `lrhub serve` SIGKILLed in the middle of a Keras fit
on Ionosphere and started again later in the same fit.

The outage starts and ends at fixed epochs (a callback placed before ours kills and restarts the
server), so the runs are deterministic. Each disturbed job is compared with an undisturbed run of
the same metrics: the service's state and history after the replay, the engine's preview over
the reported metrics and, for `on_error="local"`, an undisturbed fit.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrhub.client import Client, JobPatch
from lrhub.client.training import CircuitBreaker
from lrhub.schedules import parse_spec, preview
from tests.support.server import ServerProcess, running_server, start_server

keras = pytest.importorskip("keras")

from lrhub.client.keras import RemoteLearningRate  # noqa: E402
from tests.client.ionosphere import QUICK_PLATEAU, AtEpochEnd, build_model, fit  # noqa: E402

pytestmark = [pytest.mark.keras, pytest.mark.slow]

EPOCHS = 12
KILLED_AFTER = 3  # the server dies at the end of epoch 3: epochs 4..7 cannot be reported
RESTARTED_AFTER = 7  # and is back at the end of epoch 7: epoch 8 replays 4..7 first
OUTAGE = range(KILLED_AFTER + 1, RESTARTED_AFTER + 1)
# The breaker probes before every report: the first report after the restart goes through,
# whatever time the restart took (the spacing of probes is tested on its own).
PROBE_EVERY_TIME = CircuitBreaker(first_wait=0.0, max_wait=0.0)
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
PLATEAU = QUICK_PLATEAU


def outage(server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]) -> AtEpochEnd:
    """SIGKILL `server` after epoch KILLED_AFTER, start it again on its database and port after
    epoch RESTARTED_AFTER."""
    return AtEpochEnd(
        {
            KILLED_AFTER: server.kill,
            RESTARTED_AFTER: lambda: restarted.append(start_server(tmp_path, port=server.port)),
        }
    )


def reported(logs: dict[str, list[Any]]) -> list[dict[str, float]]:
    """What each epoch reports: nothing for epoch 0, then the previous epoch's logs."""
    epochs = len(logs["loss"])
    return [{}] + [{name: logs[name][epoch] for name in METRICS} for epoch in range(epochs - 1)]


def engine_rates(logs: dict[str, list[Any]]) -> list[float]:
    """The engine's rates for the metrics the fit observed (metrics[i] drives epoch i + 1)."""
    observed = reported(logs)[1:]
    return preview(parse_spec(PLATEAU), len(logs["loss"]), metrics=observed).learning_rates


def float32(values: list[float]) -> list[float]:
    return [float(np.float32(value)) for value in values]


def fit_through_outage(
    server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess], job: str, mode: str
) -> tuple[dict[str, list[Any]], list[str]]:
    """A fit of job `job` with `on_error=mode` through the outage: its logs and warnings."""
    callback = RemoteLearningRate(
        job=job,
        spec=PLATEAU,
        on_error=mode,  # type: ignore[arg-type]
        verbose=0,
        client=Client(server.url, max_retries=0),  # hold at once, no backoff in the outage
        breaker=PROBE_EVERY_TIME,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logs = fit(build_model(0.1), [outage(server, tmp_path, restarted), callback], epochs=EPOCHS)
    return logs, [str(warning.message) for warning in caught]


def undisturbed_job(
    tmp_path: Path, metrics: list[dict[str, float]]
) -> tuple[dict[str, Any] | None, list[tuple[int, float, dict[str, float] | None]]]:
    """The state and history of a job on a fresh server that got `metrics` with no outage."""
    database_dir = tmp_path / "fresh"
    database_dir.mkdir()
    with running_server(database_dir) as fresh, Client(fresh.url) as client:
        client.put_job("undisturbed", spec=PLATEAU)
        for epoch, epoch_metrics in enumerate(metrics):
            client.decide("undisturbed", epoch, metrics=epoch_metrics)
        return client.get_job("undisturbed").state, history_of(client, "undisturbed")


def history_of(client: Client, job: str) -> list[tuple[int, float, dict[str, float] | None]]:
    """Each epoch's rate and the metrics its decision was made from."""
    entries = client.history(job, limit=1000).items
    return [(e.epoch, e.learning_rate, e.input_metrics) for e in entries]


def test_hold_keeps_the_rate_in_an_outage_and_replays_the_missed_epochs_when_the_service_returns(
    live_server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]
) -> None:
    logs, caught = fit_through_outage(live_server, tmp_path, restarted, "hold-1", "hold")

    held = [message for message in caught if "holding the current learning rate" in message]
    assert len(held) == 1, "one warning per outage"
    applied = logs["learning_rate"]
    assert [applied[epoch] for epoch in OUTAGE] == [applied[KILLED_AFTER]] * len(OUTAGE)

    with Client(restarted[0].url) as client:
        job = client.get_job("hold-1")
        history = history_of(client, "hold-1")
        items = client.history("hold-1").items
    # The history tells what trained: the held rate through the outage, drift where it was not
    # the rate decided for the epoch.
    assert [item.applied_learning_rate for item in items] == applied
    assert [item.drift for item in items] == [
        float32([item.learning_rate])[0] != rate for item, rate in zip(items, applied, strict=True)
    ]
    assert any(item.drift for item in items)
    state, undisturbed_history = undisturbed_job(tmp_path, reported(logs))
    assert [entry[0] for entry in history] == list(range(EPOCHS)), "no epoch lost"
    assert [entry[2] for entry in history] == reported(logs), "each with its own metrics"
    assert history == undisturbed_history
    assert job.state == state and job.last_epoch == EPOCHS - 1
    decided = [entry[1] for entry in history]
    assert decided == engine_rates(logs)
    assert any(decided[epoch] != applied[KILLED_AFTER] for epoch in OUTAGE), (
        "the plateau must reduce during the outage, so the replay is what moves the state"
    )
    # From the first epoch after the outage on, the fit uses the service's answers again.
    assert applied[RESTARTED_AFTER + 1 :] == float32(decided[RESTARTED_AFTER + 1 :])


def test_local_computes_the_rates_the_service_would_have_answered_and_the_service_catches_up(
    live_server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]
) -> None:
    steady = fit(
        build_model(0.1),
        [
            RemoteLearningRate(
                job="steady", spec=PLATEAU, on_error="local", verbose=0,
                client=Client(live_server.url),
            )
        ],
        epochs=EPOCHS,
    )  # fmt: skip
    logs, caught = fit_through_outage(live_server, tmp_path, restarted, "local-1", "local")

    assert len([message for message in caught if "computing the rate locally" in message]) == 1
    applied = logs["learning_rate"]
    expected = engine_rates(logs)
    assert [applied[epoch] for epoch in OUTAGE] == float32([expected[e] for e in OUTAGE])
    assert len(set(applied[OUTAGE.start - 1 : OUTAGE.stop])) > 1, "a reduction in the outage"
    assert applied == steady["learning_rate"]
    assert logs["val_loss"] == steady["val_loss"]

    with Client(restarted[0].url) as client:
        assert history_of(client, "local-1") == history_of(client, "steady")
        # The local answers were the service's: what trained is what it decided.
        assert [item.drift for item in client.history("local-1").items] == [False] * EPOCHS
        assert client.get_job("local-1").state == client.get_job("steady").state


def test_local_follows_an_operator_change_made_before_the_outage(
    live_server: ServerProcess,
) -> None:
    model = build_model(0.1)
    client = Client(live_server.url, max_retries=0)
    callback = RemoteLearningRate(
        job="follow-1", spec={"type": "constant", "learning_rate": 0.1}, on_error="local",
        verbose=0, client=client,
    )  # fmt: skip
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    client.patch_job("follow-1", JobPatch(scale=0.5))  # seen only through the next answer
    callback.on_epoch_end(0, {"loss": 1.0})  # decides epoch 1
    callback.on_epoch_begin(1)
    served = client.history("follow-1").items[-1].learning_rate
    live_server.kill()
    with pytest.warns(RuntimeWarning, match="computing the rate locally"):
        callback.on_epoch_end(1, {"loss": 0.9})  # epoch 2, computed locally
    callback.on_epoch_begin(2)

    assert served == 0.05
    assert float(np.float32(model.optimizer.learning_rate)) == float(np.float32(served))


def test_beyond_max_pending_the_oldest_missed_epochs_are_dropped_with_a_warning(
    live_server: ServerProcess, tmp_path: Path, restarted: list[ServerProcess]
) -> None:
    callback = RemoteLearningRate(
        job="bounded-1", spec=PLATEAU, max_pending=2, verbose=0,
        client=Client(live_server.url, max_retries=0), breaker=PROBE_EVERY_TIME,
    )  # fmt: skip
    callback.set_model(build_model(0.1))
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    callback.on_epoch_end(0, {"val_loss": 1.0})  # decides epoch 1
    live_server.kill()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in (1, 2, 3):
            callback.on_epoch_begin(epoch)
            callback.on_epoch_end(epoch, {"val_loss": 1.0 + epoch})  # epoch + 1: missed
        assert not [w for w in caught if "reports missed" in str(w.message)], "2 kept, 1 asked"
        restarted.append(start_server(tmp_path, port=live_server.port))
        callback.on_epoch_begin(4)
        callback.on_epoch_end(4, {"val_loss": 5.0})
    dropping = [w for w in caught if "more than 2 reports missed" in str(w.message)]
    assert len(dropping) == 1

    with Client(restarted[0].url) as client:
        history = client.history("bounded-1").items
    assert [entry.epoch for entry in history] == [0, 1, 3, 4, 5], "epoch 2 was dropped: a gap"
    inputs = [entry.input_metrics for entry in history[2:]]
    assert inputs == [{"val_loss": v} for v in (3.0, 4.0, 5.0)]
