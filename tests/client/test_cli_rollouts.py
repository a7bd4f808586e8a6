"""`lrhub rollouts` through typer's CliRunner against a real `lrhub serve` whose judge runs,
the same calls with `AsyncClient`, and the `rollout.*` webhook events at a real receiver."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from typer.testing import CliRunner

from lrhub.client import AsyncClient, Client, Rollout
from lrhub.client.cli import app
from tests.support.fleet import SimulatedJob
from tests.support.receiver import poll_until, running_receiver
from tests.support.server import running_server

KEY = "a-webhook-key-of-at-least-32-characters"
ENV = {
    "LRHUB_WEBHOOK_KEY": KEY,
    "LRHUB_WEBHOOK_ALLOW_PRIVATE": "true",
    "LRHUB_ROLLOUT_JUDGE_INTERVAL": "0.05",
}
CONSTANT = {"type": "constant", "learning_rate": 0.1}

runner = CliRunner()
# Wide enough that rich wraps no verdict sentence.
WIDE = {"COLUMNS": "200"}


def _train(client: Client, jobs: list[SimulatedJob], epochs: int) -> None:
    for job in jobs:
        for _ in range(epochs):
            epoch = len(job.losses)
            answer = client.decide(job.job_id, epoch, metrics=job.metrics_for(epoch))
            loss = job.train_epoch(answer.learning_rate)
            client.report_epoch_end(job.job_id, epoch, metrics={"val_loss": loss})


def test_rollout_commands_and_events(tmp_path: Path) -> None:
    with running_receiver() as receiver, running_server(tmp_path, env=ENV) as server:

        def lrhub(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, ["--url", server.url, "rollouts", *args], env=WIDE)
            assert result.exit_code == code, (result.output, result.exception)
            return result.output

        rng = random.Random(21)
        jobs = [SimulatedJob(f"sim-{index}", random.Random(rng.random())) for index in range(6)]
        with Client(server.url) as client:
            hook = client.create_webhook(
                receiver.url, events=["rollout.failed", "rollout.reverted"], selector="fleet=sim"
            )
            for job in jobs:
                client.put_job(job.job_id, spec=CONSTANT, labels={"fleet": "sim"})
            _train(client, jobs, 2)
        assert "no rollouts" in lrhub("list")
        create = ["create", "-l", "fleet=sim", "--metric", "val_loss"]
        created = json.loads(
            lrhub(
                *create,
                *("--change", '{"scale": 0.01}', "--epochs", "2", "--canary-count", "3"),
                *("--revert", "manual", "--json"),
            )
        )
        assert (created["state"], len(created["canary"])) == ("analyzing", 3)
        unsure = lrhub(*create, "--change", "{}", "--epochs", "2", code=2)
        assert "give exactly one of --canary" in unsure
        nothing = ["create", "-l", "fleet=none", "--metric", "val_loss", "--epochs", "2"]
        problem = lrhub(*nothing, "--change", '{"scale": 0.5}', "--canary", "0.5", code=1)
        assert "matches no job" in problem
        with Client(server.url) as client:
            _train(client, jobs, 2)
        rollout_id = created["rollout_id"]

        async def state() -> Rollout:
            async with AsyncClient(server.url) as client:
                return await client.get_rollout(rollout_id)

        failed = poll_until(lambda: asyncio.run(state()), lambda r: r.state == "failed", 30)
        assert failed.verdict is not None and not failed.verdict.passed
        shown = lrhub("show", rollout_id)
        assert "failed" in shown and "worse than max_regression" in shown
        for figure in failed.verdict.jobs:
            assert figure.job_id in shown
        reverted = json.loads(lrhub("revert", rollout_id, "--json"))
        assert reverted["state"] == "reverted"
        assert "reverted already" in lrhub("promote", rollout_id, code=1)
        with Client(server.url) as client:
            assert all(client.get_job(job.job_id).scale == 1.0 for job in jobs)
        got = receiver.wait_for(lambda seen: len(seen) == 2)
        bodies = [received.verify(hook.secret) for received in got]
        assert [body["type"] for body in bodies] == ["rollout.failed", "rollout.reverted"]
        assert {body["data"]["rollout_id"] for body in bodies} == {rollout_id}
        assert bodies[0]["data"]["verdict"]["passed"] is False

        second = json.loads(
            lrhub(
                *create,
                "--change",
                '{"paused": true}',
                "--epochs",
                "5",
                "--canary",
                "0.5",
                "--json",
            )
        )
        assert json.loads(lrhub("abort", second["rollout_id"], "--json"))["state"] == "aborted"
        listed = lrhub("list")
        assert rollout_id in listed and second["rollout_id"] in listed and "aborted" in listed
