"""`lrhub webhooks` through typer's CliRunner against a real `lrhub serve` and a real receiver,
and the same calls with `AsyncClient`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from lrhub.client import AsyncClient, Client, JobPatch
from lrhub.client.cli import app
from tests.support.receiver import poll_until, running_receiver
from tests.support.server import running_server

KEY = "a-webhook-key-of-at-least-32-characters"
DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10}

runner = CliRunner()


def test_webhook_commands(tmp_path: Path) -> None:
    env = {"LRHUB_WEBHOOK_KEY": KEY, "LRHUB_WEBHOOK_ALLOW_PRIVATE": "true"}
    with running_receiver() as receiver, running_server(tmp_path, env=env) as server:

        def lrhub(*args: str, code: int = 0) -> str:
            result = runner.invoke(app, ["--url", server.url, "webhooks", *args])
            assert result.exit_code == code, (result.output, result.exception)
            return result.stdout

        created = json.loads(
            lrhub("create", receiver.url, "-e", "job.completed", "-l", "team=a", "--json")
        )
        assert created["secret"].startswith("whsec_")
        assert (
            "not an event type"
            in runner.invoke(
                app, ["--url", server.url, "webhooks", "create", receiver.url, "-e", "job.done"]
            ).output
        )
        table = lrhub("list")
        assert created["webhook_id"] in table and "whsec_" not in table
        with Client(server.url) as client:
            client.put_job("j", spec=DROP, labels={"team": "a"})
            client.patch_job("j", JobPatch(status="completed"))
        [got] = receiver.wait_for(lambda seen: len(seen) == 1)
        assert got.verify(created["secret"])["data"]["job_id"] == "j"

        async def deliveries() -> list[str]:
            async with AsyncClient(server.url) as client:
                page = await client.webhook_deliveries(created["webhook_id"])
                return [delivery.state for delivery in page.items]

        poll_until(lambda: asyncio.run(deliveries()), lambda states: states == ["delivered"], 30)
        shown = lrhub("deliveries", created["webhook_id"])
        assert got.message_id in shown and "204" in shown
        assert f"deleted {created['webhook_id']}" in lrhub("delete", created["webhook_id"])
        assert json.loads(lrhub("list", "--json"))["items"] == []
        lrhub("deliveries", created["webhook_id"], code=1)
