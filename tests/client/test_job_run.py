"""`JobRun`, the framework-free core of the callbacks: the circuit breaker against a service that
accepts connections and never answers, copies, and the conflict check (no framework needed)."""

from __future__ import annotations

import copy
import pickle
import warnings
from pathlib import Path

import pytest

from lrhub.client import Client, JobConflict
from lrhub.client.training import CircuitBreaker, JobRun
from tests.support.server import ServerProcess, start_server
from tests.support.silent_service import SilentService

PLATEAU = {"type": "reduce_on_plateau", "monitor": "val_loss", "patience": 1,
           "initial_learning_rate": 0.1}  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_probes_only_when_due_and_spaces_failed_probes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(first_wait=1.0, max_wait=4.0, clock=clock)
    probes: list[float] = []

    def probe(timeout: float) -> bool:
        probes.append(clock.now)
        return answers.pop(0)

    answers = [False, False, False, True]
    assert breaker.allows(probe), "closed: no probe needed"
    breaker.trip()
    for now in (0.5, 1.0, 1.5, 3.0, 6.9, 7.0, 10.9, 11.0):
        clock.now = now
        allowed = breaker.allows(probe)
    assert probes == [1.0, 3.0, 7.0, 11.0], "waits of 1, 2, 4 then 4 (the maximum)"
    assert allowed and not breaker.is_open


def test_epochs_fail_fast_against_a_service_that_never_answers(silent: SilentService) -> None:
    client = Client(f"http://127.0.0.1:{silent.port}", timeout=0.2, max_retries=1)
    run = JobRun("hung", spec=PLATEAU, client=client, breaker=CircuitBreaker(first_wait=3600))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run.start() is None
        answers = [run.decide(epoch, {"val_loss": 1.0}) for epoch in range(50)]
    assert answers == [None] * 50, "held"
    # The registration paid the retry ladder once (2 attempts); the 50 epochs asked nothing.
    assert len(silent.accepted) == 2
    assert len([w for w in caught if "holding the current learning rate" in str(w.message)]) == 1


def test_after_an_outage_the_breaker_replays_every_missed_epoch_in_order(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    client = Client(live_server.url, max_retries=0)
    run = JobRun("replayed", spec=PLATEAU, client=client, breaker=CircuitBreaker(first_wait=0))
    run.start()
    run.decide(0, {})
    port = live_server.port
    live_server.stop()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert run.decide(1, {"val_loss": 1.0}) is None
        assert run.decide(2, {"val_loss": 1.5}) is None
    back = start_server(tmp_path, port=port)
    try:
        answer = run.decide(3, {"val_loss": 2.0})
        with Client(back.url) as reader:
            inputs = [entry.input_metrics for entry in reader.history("replayed").items]
    finally:
        back.stop()
    assert answer is not None and answer.epoch == 3
    assert inputs == [{}, {"val_loss": 1.0}, {"val_loss": 1.5}, {"val_loss": 2.0}]


def test_copies_recreate_their_client_and_start_without_outage_state(silent: SilentService) -> None:
    client = Client(f"http://127.0.0.1:{silent.port}", token="t0ken", timeout=0.2, max_retries=0)
    run = JobRun("copied", spec=PLATEAU, client=client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.decide(0, {})
    assert run.breaker.is_open
    for copied in (copy.deepcopy(run), pickle.loads(pickle.dumps(run))):
        assert copied.client is not client
        assert (copied.client.url, copied.client.token, copied.client.timeout) == (
            client.url, "t0ken", 0.2,
        )  # fmt: skip
        assert copied.client.retry.max_retries == 0
        assert not copied.breaker.is_open


def test_an_existing_job_with_another_schedule_warns_or_raises(live_server: ServerProcess) -> None:
    client = Client(live_server.url)
    client.put_schedule("drop", {"type": "step_decay", "initial_learning_rate": 0.1,
                                 "drop": 0.5, "every": 2})  # fmt: skip
    client.put_job("owned", schedule="drop")
    with pytest.warns(RuntimeWarning, match="schedule 'drop', not the spec given"):
        JobRun("owned", spec=PLATEAU, client=client).start()
    with pytest.raises(JobConflict, match="not 'other'"):
        JobRun("owned", schedule="other", on_conflict="raise", client=client).start()
    with pytest.raises(JobConflict, match="version 1 of 'drop', not version 2"):
        JobRun("owned", schedule="drop@2", on_conflict="raise", client=client).start()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        JobRun("owned", schedule="drop", client=client).start()
        JobRun("owned", schedule="drop@1", client=client).start()
