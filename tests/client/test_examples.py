"""The examples run as a user runs them, against a real server, and leave the job they describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.keras, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, server: ServerProcess, *args: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--url", server.url, *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_drop_based_example(live_server: ServerProcess) -> None:
    output = run_example("ionosphere_drop_based.py", live_server, "--job", "drop")
    job = Client(live_server.url).get_job("drop")
    assert (job.schedule.name, job.last_epoch, job.learning_rate) == (
        "ionosphere-drop",
        49,
        0.003125,
    )
    assert "job drop: 50 epochs, rate 0.1 -> 0.003125" in output


def test_time_based_example_applies_per_step_rates(live_server: ServerProcess) -> None:
    run_example("ionosphere_time_based.py", live_server, "--job", "time")
    entries = Client(live_server.url).history("time", limit=100).items
    assert [entry.epoch for entry in entries] == list(range(50))
    first = entries[0].step_learning_rates or []
    assert first[:2] == [0.1, 0.1 / (1 + 0.002)]


def test_plateau_example_reduces_and_stops(live_server: ServerProcess) -> None:
    output = run_example("plateau.py", live_server, "--job", "plateau", "--epochs", "120")
    job = Client(live_server.url).get_job("plateau")
    assert job.learning_rate is not None and job.learning_rate < 0.1
    assert job.labels == {"example": "plateau"}
    assert "did not improve" in output


def test_tuner_example_gives_every_trial_its_own_job(live_server: ServerProcess) -> None:
    output = run_example("ionosphere_tuner.py", live_server, "--job", "search")
    client = Client(live_server.url)
    jobs = client.list_jobs(limit=100).items
    assert sorted(job.job_id for job in jobs) == ["search-trial-0", "search-trial-1"]
    for job in jobs:
        assert (job.status, job.last_epoch) == ("completed", 3)
        history = client.history(job.job_id, limit=100).items
        assert [entry.epoch for entry in history] == [0, 1, 2, 3]
        assert [entry.learning_rate for entry in history] == [0.1, 0.1, 0.05, 0.05]
    assert "search-trial-0: momentum" in output


def test_the_readme_shows_the_tuner_example_s_own_code() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    start = readme.index("class RemoteRateSearch(keras_tuner.RandomSearch):")
    snippet = readme[start : readme.index("```", start)].splitlines()
    # Without trailing comments (type checkers' notes the README leaves out).
    example = [
        line.split("  # ")[0]
        for line in (EXAMPLES / "ionosphere_tuner.py").read_text().splitlines()
    ]
    # Each line of the snippet, at the README's indent, is in the example (the docstring and
    # __init__ the README leaves out sit between).
    lines = [line.removeprefix("  ") for line in snippet if line.strip()]
    assert all(line in example for line in lines), [line for line in lines if line not in example]
