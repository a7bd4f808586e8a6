"""`lrhub jobs cooldown` against a real `lrhub serve`: one job, a selector, cancel, refusals."""

from __future__ import annotations

import pytest

from lrhub.client import Client
from lrhub.client.cli import app
from tests.client.test_cli import lrhub, lrhub_json, runner
from tests.support.server import ServerProcess

CONSTANT = {"type": "constant", "learning_rate": 0.1}


def test_cooldown_one_job_then_cancel(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client:
        client.put_job("cool-1", spec=CONSTANT)
        client.decide("cool-1", 0, metrics={})
        shown = lrhub_json(
            live_server, "jobs", "cooldown", "cool-1", "--epochs", "4", "--shape", "linear",
            "--min-lr", "0.02",
        )  # fmt: skip
        assert shown["cooldown"] == {
            "length": 4, "unit": "epoch", "shape": "linear", "min_learning_rate": 0.02,
            "start": None, "start_rate": None, "finished": False,
        }  # fmt: skip
        rates = [client.decide("cool-1", epoch, metrics={}).learning_rate for epoch in range(1, 4)]
        assert rates == pytest.approx([0.1, 0.08, 0.06])
        human = lrhub(live_server, "jobs", "show", "cool-1")
        assert "linear over 4 epochs to 0.02, decaying (from 0.1 at epoch 1)" in human
        assert lrhub_json(live_server, "jobs", "cooldown", "cool-1", "--cancel")["cooldown"] is None
        assert client.decide("cool-1", 4, metrics={}).learning_rate == 0.1


def test_cooldown_by_selector_and_its_refusals(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client:
        for job_id, team in (("a", "nlp"), ("b", "nlp"), ("c", "vision")):
            client.put_job(job_id, spec=CONSTANT, labels={"team": team})
        dry = lrhub_json(
            live_server, "jobs", "cooldown", "-l", "team=nlp", "--steps", "100", "--shape",
            "1-sqrt", "--dry-run",
        )  # fmt: skip
        assert [job["outcome"] for job in dry["jobs"]] == ["changed", "changed"]
        assert client.get_job("a").cooldown is None
        human = lrhub(live_server, "jobs", "cooldown", "-l", "team=nlp", "--steps", "100",
                      "--shape", "1-sqrt")  # fmt: skip
        assert "changed" in human
        for job_id in ("a", "b"):
            cooldown = client.get_job(job_id).cooldown
            assert cooldown is not None
            assert (cooldown.length, cooldown.unit, cooldown.shape) == (100, "step", "1-sqrt")
        assert client.get_job("c").cooldown is None

    for args in (
        ["cool-x", "--steps", "5"],  # no shape
        ["cool-x", "--steps", "5", "--epochs", "2", "--shape", "linear"],
        ["cool-x", "--shape", "linear"],  # no length
        ["cool-x", "-l", "team=nlp", "--steps", "5", "--shape", "linear"],
        ["--steps", "5", "--shape", "linear"],  # neither a job nor a selector
        ["cool-x", "--cancel", "--steps", "5"],
        ["cool-x", "--steps", "5", "--shape", "sqrt"],
    ):
        result = runner.invoke(app, ["--url", live_server.url, "jobs", "cooldown", *args])
        assert result.exit_code == 2, (args, result.output)
    # The server's own refusal: a stopped job (409), and a bad value named by its field.
    with Client(live_server.url) as client:
        client.put_job("stopped", spec=CONSTANT)
    lrhub(live_server, "jobs", "stop", "stopped")
    refused = runner.invoke(
        app, ["--url", live_server.url, "jobs", "cooldown", "stopped", "--steps", "5", "--shape",
              "linear"],
    )  # fmt: skip
    assert refused.exit_code != 0 and "stopped" in refused.output
    bad = runner.invoke(
        app, ["--url", live_server.url, "jobs", "cooldown", "c", "--steps", "0", "--shape",
              "linear"],
    )  # fmt: skip
    assert bad.exit_code != 0 and "steps" in bad.output
