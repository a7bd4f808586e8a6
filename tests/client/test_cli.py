"""The `lrhub` command through typer's CliRunner against a real `lrhub serve`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from lrhub.client import Client, Unauthorized
from lrhub.client.cli import app
from tests.support.server import ServerProcess, free_port, running_server, server_env

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10}

runner = CliRunner()


def lrhub(server: ServerProcess, *args: str, code: int = 0) -> str:
    """Run `lrhub --url <server> ARGS`, check its exit status, return its stdout."""
    result = runner.invoke(app, ["--url", server.url, *args])
    assert result.exit_code == code, (result.output, result.exception)
    return result.stdout


def lrhub_json(server: ServerProcess, *args: str) -> Any:
    return json.loads(lrhub(server, *args, "--json"))


def test_schedule_commands(live_server: ServerProcess, tmp_path: Path) -> None:
    spec_file = tmp_path / "drop.json"
    spec_file.write_text(json.dumps(DROP))
    created = lrhub_json(live_server, "schedules", "put", "drop", "--file", str(spec_file))
    assert (created["name"], created["version"], created["spec"]["drop"]) == ("drop", 1, 0.5)
    changed = {**DROP, "drop": 0.25}
    updated = lrhub_json(
        live_server, "schedules", "put", "drop", "--spec", json.dumps(changed),
        "--description", "quarter",
    )  # fmt: skip
    assert (updated["version"], updated["description"]) == (2, "quarter")

    listed = lrhub_json(live_server, "schedules", "list")
    assert [(s["name"], s["version"]) for s in listed["items"]] == [("drop", 2)]
    assert "drop" in lrhub(live_server, "schedules", "list")
    shown = lrhub_json(live_server, "schedules", "show", "drop", "--version", "1")
    assert shown["spec"]["drop"] == 0.5
    human = lrhub(live_server, "schedules", "show", "drop")
    assert "drop version 2 of 2" in human and '"drop": 0.25' in human
    versions = lrhub_json(live_server, "schedules", "versions", "drop")
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert "versions of drop" in lrhub(live_server, "schedules", "versions", "drop")

    assert lrhub_json(live_server, "schedules", "delete", "drop") == {"deleted": "drop"}
    assert lrhub_json(live_server, "schedules", "list")["items"] == []
    missing = runner.invoke(app, ["--url", live_server.url, "schedules", "show", "drop"])
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_preview_draws_the_curve_and_writes_csv(live_server: ServerProcess, tmp_path: Path) -> None:
    with Client(live_server.url) as client:
        client.put_schedule("drop", DROP)
    drawn = lrhub(live_server, "schedules", "preview", "drop", "--epochs", "30", "--height", "4")
    lines = drawn.splitlines()
    assert lines[0].lstrip().startswith("0.1 │█")
    assert "30 epochs: 0.1 → 0.025" in drawn

    out = tmp_path / "rates.csv"
    result = lrhub_json(
        live_server, "schedules", "preview", "--spec", json.dumps(DROP), "--epochs", "3",
        "--steps-per-epoch", "2", "--csv", str(out),
    )  # fmt: skip
    assert result["learning_rates"] == [0.1, 0.1, 0.1]
    with out.open() as written:
        rows = list(csv.DictReader(written))
    assert [(row["epoch"], row["step"]) for row in rows] == [
        ("0", "0"), ("0", "1"), ("1", "2"), ("1", "3"), ("2", "4"), ("2", "5")
    ]  # fmt: skip


def test_preview_refuses_ambiguous_or_invalid_input(live_server: ServerProcess) -> None:
    both = runner.invoke(
        app, ["--url", live_server.url, "schedules", "preview", "drop", "--spec", "{}"]
    )
    assert both.exit_code == 2 and "exactly one" in both.output
    not_json = runner.invoke(app, ["--url", live_server.url, "schedules", "preview", "--spec", "{"])
    assert not_json.exit_code == 2 and "not valid JSON" in not_json.output
    bad = {**DROP, "every": 0}
    invalid = runner.invoke(
        app, ["--url", live_server.url, "schedules", "preview", "--spec", json.dumps(bad)]
    )
    assert invalid.exit_code == 1 and "every" in invalid.stderr


def test_png_needs_matplotlib_or_says_how_to_get_it(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    png = tmp_path / "curve.png"
    result = runner.invoke(
        app,
        ["--url", live_server.url, "schedules", "preview", "--spec", json.dumps(DROP),
         "--epochs", "5", "--png", str(png)],
    )  # fmt: skip
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert result.exit_code == 2 and "pip install matplotlib" in result.output
        assert not png.exists()
    else:
        assert result.exit_code == 0 and png.read_bytes().startswith(b"\x89PNG")


def test_job_commands(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client:
        client.put_schedule("drop", DROP)
        client.put_schedule("flat", {"type": "constant", "learning_rate": 0.01})
        client.put_job("train-1", schedule="drop", labels={"team": "vision"})
        client.put_job("train-2", schedule="flat", labels={"team": "audio"})
        for epoch in range(3):
            client.decide("train-1", epoch, metrics={} if epoch == 0 else {"val_loss": 1.0})

    vision = lrhub_json(live_server, "jobs", "list", "--label", "team=vision")
    assert [job["job_id"] for job in vision["items"]] == ["train-1"]
    assert "train-2" in lrhub(live_server, "jobs", "list")
    shown = lrhub_json(live_server, "jobs", "show", "train-1")
    assert (shown["last_epoch"], shown["learning_rate"]) == (2, 0.1)
    assert "drop@1 (latest)" in lrhub(live_server, "jobs", "show", "train-1")

    history = lrhub_json(live_server, "jobs", "history", "train-1")
    assert [entry["epoch"] for entry in history["items"]] == [0, 1, 2]
    assert "history of train-1" in lrhub(live_server, "jobs", "history", "train-1")
    table = list(
        csv.DictReader(lrhub(live_server, "jobs", "history", "train-1", "--csv").splitlines())
    )
    assert [row["epoch"] for row in table] == ["0", "1", "2"]

    switched = lrhub_json(
        live_server, "jobs", "switch", "train-1", "flat", "--clock", "restart", "--follow", "pinned"
    )
    assert (switched["schedule"]["name"], switched["clock_origin"]) == ("flat", 3)
    assert switched["schedule"]["follow"] == "pinned"
    assert lrhub_json(live_server, "jobs", "scale", "train-1", "0.5")["scale"] == 0.5
    assert lrhub_json(live_server, "jobs", "override", "train-1", "0.003")["override"] == 0.003
    assert lrhub_json(live_server, "jobs", "override", "train-1", "--clear")["override"] is None
    assert lrhub_json(live_server, "jobs", "pause", "train-1")["paused"] is True
    assert lrhub_json(live_server, "jobs", "resume", "train-1")["paused"] is False
    assert "stopped" in lrhub(live_server, "jobs", "stop", "train-1")

    events = lrhub_json(live_server, "jobs", "events", "train-1")
    actions = [event["action"] for event in events["items"]]
    assert actions == ["create"] + ["update"] * 6 + ["stop"]
    assert "events of train-1" in lrhub(live_server, "jobs", "events", "train-1")

    neither = runner.invoke(app, ["--url", live_server.url, "jobs", "override", "train-2"])
    assert neither.exit_code == 2 and "exactly one" in neither.output
    stopped = runner.invoke(app, ["--url", live_server.url, "jobs", "scale", "train-1", "2"])
    assert stopped.exit_code == 1 and "409" in stopped.stderr

    assert "last seen" in lrhub(live_server, "jobs", "show", "train-1")
    finished = lrhub_json(live_server, "jobs", "list", "--status", "stopped")
    assert [job["job_id"] for job in finished["items"]] == ["train-1"]
    resumed = lrhub_json(live_server, "jobs", "resume", "train-1")
    assert (resumed["status"], resumed["paused"]) == ("running", False)
    assert lrhub_json(live_server, "jobs", "scale", "train-1", "2")["scale"] == 2
    assert "stopped" in lrhub(live_server, "jobs", "stop", "train-1")
    running = runner.invoke(app, ["--url", live_server.url, "jobs", "delete", "train-2"])
    assert running.exit_code == 1 and "409" in running.stderr and "running" in running.stderr
    assert lrhub_json(live_server, "jobs", "delete", "train-1") == {"deleted": "train-1"}
    assert "train-1" not in lrhub(live_server, "jobs", "list")


def test_token_commands_and_job_token_rotation(tmp_path: Path) -> None:
    admin_secret = "cli-admin-secret-long"
    env = {"LRHUB_ADMIN_TOKEN": f"ops:{admin_secret}"}
    with running_server(tmp_path, env=env) as server:

        def as_admin(*args: str, code: int = 0) -> str:
            return lrhub(server, "--token", admin_secret, *args, code=code)

        created = json.loads(as_admin("tokens", "create", "trainer", "--role", "creator",
                                      "--expires-in", "3600", "--json"))  # fmt: skip
        assert created["role"] == "creator" and created["token"].startswith("lrt_")
        viewer_secret = as_admin("tokens", "create", "dash", "--role", "viewer").strip()
        assert viewer_secret.startswith("lrt_")
        listed = json.loads(as_admin("tokens", "list", "--json"))["items"]
        assert [(t["name"], t["role"]) for t in listed] == [
            ("dash", "viewer"),
            ("trainer", "creator"),
        ]
        assert created["token"] not in json.dumps(listed)
        table = as_admin("tokens", "list")
        assert "trainer" in table and "creator" in table and "never" in table

        # The creator registers a job and reports for it; the viewer only reads.
        with Client(server.url, token=created["token"]) as trainer:
            job_token = trainer.put_job("train-1", spec=DROP).token
            assert job_token is not None
            trainer.decide("train-1", 0, metrics={})
        assert lrhub(server, "--token", viewer_secret, "jobs", "list", "--json")
        refused = runner.invoke(app, ["--url", server.url, "--token", viewer_secret, "jobs",
                                      "scale", "train-1", "2"])  # fmt: skip
        assert refused.exit_code == 1 and "403" in refused.stderr

        rotated = json.loads(as_admin("jobs", "rotate-token", "train-1", "--json"))
        assert rotated["job_id"] == "train-1" and rotated["token"] != job_token
        with (
            Client(server.url, token=job_token) as old,
            Client(server.url, token=rotated["token"]) as new,
        ):
            with pytest.raises(Unauthorized):
                old.decide("train-1", 1, metrics={})
            assert new.decide("train-1", 1, metrics={}).epoch == 1

        # The admin token as configured, `name:secret`, works as well as the bare secret.
        whole = lrhub(server, "--token", f"ops:{admin_secret}", "jobs", "scale", "train-1", "2")
        assert "train-1" in whole
        [scaled] = json.loads(as_admin("jobs", "events", "train-1", "--json"))["items"][-1:]
        assert (scaled["actor"], scaled["after"]["scale"]) == ("ops", 2)
        wrong = runner.invoke(app, ["--url", server.url, "--token", f"bob:{admin_secret}",
                                    "jobs", "list"])  # fmt: skip
        assert wrong.exit_code == 1 and "401" in wrong.stderr

        assert "revoked dash" in as_admin("tokens", "revoke", "dash")
        gone = runner.invoke(app, ["--url", server.url, "--token", viewer_secret, "jobs", "list"])
        assert gone.exit_code == 1 and "401" in gone.stderr
        missing = runner.invoke(app, ["--url", server.url, "--token", admin_secret, "tokens",
                                      "revoke", "dash"])  # fmt: skip
        assert missing.exit_code == 1 and "404" in missing.stderr


def test_url_and_token_default_to_the_environment(
    live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LRHUB_URL", live_server.url)
    result = runner.invoke(app, ["schedules", "list", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["items"] == []


def test_serve_runs_the_server_in_place_of_the_command(tmp_path: Path) -> None:
    port = free_port()
    lrhub_script = Path(sys.executable).with_name("lrhub")
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(lrhub_script), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=server_env(tmp_path), cwd=tmp_path,
        )  # fmt: skip
    server = ServerProcess(process=process, port=port, log_path=log_path)
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        # execv: the server is the very process `lrhub serve` started, not a child of it.
        assert f"--port {port}" in " ".join(_cmdline(process.pid))
        assert "lrhub.service" in " ".join(_cmdline(process.pid))
    finally:
        server.stop()


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_serve_without_the_server_says_how_to_install_it(tmp_path: Path) -> None:
    # `sys.modules[name] = None` makes a module unfindable: a plain `pip install lrhub`.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['lrhub.service'] = None\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "lrhub.client.cli", "serve"], capture_output=True, text=True,
        env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "pip install lrhub-server" in result.stderr
    assert "lrhub.service" in result.stderr


def test_fleet_commands_patch_by_selector_and_watch(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client:
        client.put_job("v1", spec=DROP, labels={"team": "vision", "stage": "dev"})
        client.put_job("v2", spec=DROP, labels={"team": "vision", "stage": "prod"})
        client.put_job("n1", spec=DROP, labels={"team": "nlp"})
    selector = "team=vision,stage!=prod"
    listed = lrhub_json(live_server, "jobs", "list", "-l", "team=vision")
    assert [job["job_id"] for job in listed["items"]] == ["v1", "v2"]
    dry = lrhub_json(live_server, "jobs", "patch", "-l", selector, "--scale", "0.5", "--dry-run")
    assert (dry["matched"], dry["dry_run"], dry["change_id"]) == (1, True, None)
    assert (dry["jobs"][0]["job_id"], dry["jobs"][0]["after"]["scale"]) == ("v1", 0.5)
    assert lrhub_json(live_server, "jobs", "show", "v1")["scale"] == 1.0
    human = lrhub(live_server, "jobs", "patch", "-l", selector, "--scale", "0.5")
    assert "1 matched, 1 changed" in human and "scale" in human
    assert lrhub_json(live_server, "jobs", "show", "v1")["scale"] == 0.5
    [event] = lrhub_json(live_server, "jobs", "events", "v1")["items"][-1:]
    record = lrhub_json(live_server, "changes", "show", event["change_id"])
    assert (record["selector"], record["body"], record["state"]) == (
        selector,
        {"scale": 0.5},
        "applied",
    )
    shown = " ".join(lrhub(live_server, "changes", "show", event["change_id"]).split())
    assert "selector team=vision,stage!=prod" in shown and "scale: 1 → 0.5" in shown
    lrhub(live_server, "changes", "show", "00000000-0000-0000-0000-000000000000", code=1)
    lrhub(live_server, "jobs", "patch", "-l", "team=vision", code=2)  # nothing to change
    typo = runner.invoke(app, ["--url", live_server.url, "jobs", "patch", "-l", "team=", "--stop"])
    assert typo.exit_code == 0, typo.output  # `team=` is a valid selector: the empty value
    refused = runner.invoke(
        app, ["--url", live_server.url, "jobs", "patch", "-l", "team in (a", "--stop"]
    )
    assert refused.exit_code == 1 and "query.selector" in refused.output

    lines = lrhub(live_server, "watch", "--after", "0", "--count", "4", "--json").splitlines()
    events = [json.loads(line) for line in lines]
    assert [(event["event"], event["data"]["job_id"]) for event in events] == [
        ("change", "v1"),
        ("change", "v2"),
        ("change", "n1"),
        ("change", "v1"),
    ]
    assert events[-1]["data"]["after"]["scale"] == 0.5
    human = lrhub(live_server, "watch", "-l", "team=nlp", "--after", "0", "--count", "1")
    assert human.split()[1:4] == ["change", "n1", "create"]


def test_output_shows_metrics_before_and_after_and_what_would_happen(
    live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(live_server.url) as client:
        client.put_job("m1", spec=DROP, labels={"team": "metrics"})
        for epoch in range(5):
            metrics = {} if epoch == 0 else {"val_loss": 1.0 / epoch, "acc": 0.1 * epoch}
            client.decide("m1", epoch, metrics=metrics)
        history = client.history("m1").items

    # A column per metric, holding each epoch's value at its end.
    table = lrhub(live_server, "jobs", "history", "m1")
    header = next(line for line in table.splitlines() if "epoch" in line)
    names = [cell.strip() for cell in header.split("┃")]
    rows = [[cell.strip() for cell in line.split("│")] for line in table.splitlines()]
    [row_1] = [row for row in rows if row[1:2] == ["1"]]
    assert history[1].metrics is not None
    assert row_1[names.index("val_loss")] == f"{history[1].metrics['val_loss']:.6g}", table
    assert row_1[names.index("acc")] == f"{history[1].metrics['acc']:.6g}", table

    lrhub(live_server, "jobs", "scale", "m1", "2")
    events = " ".join(lrhub(live_server, "jobs", "events", "m1").split())
    assert "scale: 1 → 2" in events

    dry = " ".join(
        lrhub(
            live_server, "jobs", "patch", "-l", "team=metrics", "--scale", "0.5", "--dry-run"
        ).split()
    )
    assert "dry run: 1 matched, 1 would change; nothing changed" in dry
    assert "would change" in dry and "scale: 2 → 0.5" in dry
    assert lrhub_json(live_server, "jobs", "show", "m1")["scale"] == 2

    # An empty selection says so, for a list, a change and a dry run.
    assert "no job matches team=nobody" in lrhub(live_server, "jobs", "list", "-l", "team=nobody")
    said = lrhub(live_server, "jobs", "patch", "-l", "team=nobody", "--stop")
    assert "no job matches team=nobody: nothing changed" in said
    said = lrhub(live_server, "jobs", "patch", "-l", "team=nobody", "--stop", "--dry-run")
    assert "nothing would change" in said

    # `watch` says it is waiting, on stderr (stdout is the events).
    result = runner.invoke(
        app, ["--url", live_server.url, "watch", "--job", "m1", "--after", "0", "--count", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "waiting for events of job m1" in result.stderr
    assert "waiting" not in result.stdout

    # A read of many pages shows its progress on a terminal (rich reads these variables to
    # treat the captured stream as one), and none of it reaches stdout.
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    result = runner.invoke(
        app, ["--url", live_server.url, "jobs", "history", "m1", "--all", "--limit", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "reading items" in result.stderr
    assert len(json.loads(result.stdout)["items"]) == 5


def test_role_help_keeps_every_role_whole() -> None:
    result = runner.invoke(app, ["tokens", "create", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "admin, operator, viewer or creator" in text
    assert "cr eator" not in text and "--role ROLE" in text
