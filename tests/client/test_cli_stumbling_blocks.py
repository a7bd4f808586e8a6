"""Where a new user of the `lrhub` command stumbled, one test each, against a real server."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lrhub.client import Client
from lrhub.client.cli import app
from lrhub.client.models import JobPatch
from tests.support.server import ServerProcess, free_port, running_server

README = Path(__file__).resolve().parents[2] / "README.md"
DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10, "offset": 1}
PLATEAU = {
    "type": "reduce_on_plateau", "monitor": "val_loss", "initial_learning_rate": 0.1,
    "factor": 0.5, "patience": 1,
}  # fmt: skip

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("cli")) as process:
        yield process


def invoke(server: ServerProcess, *args: str) -> Any:
    return runner.invoke(app, ["--url", server.url, *args])


def as_json(server: ServerProcess, *args: str) -> Any:
    result = invoke(server, *args, "--json")
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_every_list_says_when_it_is_cut_and_all_shows_every_page(server: ServerProcess) -> None:
    with Client(server.url) as client:
        for name in ("cut-a", "cut-b", "cut-c"):
            client.put_schedule(name, {"type": "constant", "learning_rate": 0.1})
            client.put_job(name, schedule=name)
        for epoch in range(5):
            client.decide("cut-a", epoch, metrics={"loss": 1.0})
        for rate in (0.1, 0.2, 0.3):
            client.put_schedule("cut-a", {"type": "constant", "learning_rate": rate})
            client.patch_job("cut-a", JobPatch(override=rate))
    lists = {
        ("schedules", "list"): 3,
        ("schedules", "versions", "cut-a"): 3,
        ("jobs", "list"): 3,
        ("jobs", "history", "cut-a"): 5,
        ("jobs", "events", "cut-a"): 4,
    }
    for command, count in lists.items():
        cut = invoke(server, *command, "--limit", "2")
        assert cut.exit_code == 0, cut.output
        assert "showing the first 2; more with --cursor" in cut.stderr, command
        assert "--all for every page" in cut.stderr
        every = invoke(server, *command, "--limit", "2", "--all", "--json")
        assert every.exit_code == 0 and "showing" not in every.stderr, command
        page = json.loads(every.stdout)
        assert (len(page["items"]), page["next_cursor"]) == (count, None), command
        human = invoke(server, *command, "--all")
        assert human.exit_code == 0 and "showing" not in human.stderr


def test_boolean_options_are_flags_in_every_command() -> None:
    # Typer builds click commands (its own copy of click in some versions): read them by shape.
    root: Any = typer.main.get_command(app)
    commands: list[tuple[str, Any]] = []
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            commands += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
        else:
            commands.append((name, command))
    flags = 0
    for name, command in commands:
        for param in command.params:
            if param.param_type_name == "option" and param.type.name == "boolean":
                assert param.is_flag, f"lrhub {name} {param.opts}"
                flags += 1
        shown = runner.invoke(app, [*name.split(), "--help"]).output
        assert not re.search(r"--[a-z-]+\s+(<bool>|BOOLEAN)", shown), f"lrhub {name}:\n{shown}"
    assert flags >= 20  # --json on every command, --all, --clear, --log, --csv, ...


def test_connection_errors_name_the_url_and_a_url_without_scheme_is_explained() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    refused = runner.invoke(app, ["--url", nowhere, "schedules", "list"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: cannot connect to lrhub at {nowhere}:")
    no_scheme = runner.invoke(app, ["--url", "127.0.0.1:8000", "schedules", "list"])
    assert no_scheme.exit_code == 2
    text = " ".join(no_scheme.output.replace("│", " ").split())
    assert "must start with http:// or https://" in text and "'127.0.0.1:8000'" in text
    assert "UnsupportedProtocol" not in no_scheme.output and "httpx" not in no_scheme.output
    with pytest.raises(ValueError, match="must start with http://"):
        Client("localhost:8000")


def test_a_negative_number_is_an_argument_that_the_service_judges(server: ServerProcess) -> None:
    with Client(server.url) as client:
        client.put_job("negative", spec={"type": "constant", "learning_rate": 0.1})
    for command, field in (("scale", "scale"), ("override", "override")):
        result = invoke(server, "jobs", command, "negative", "-0.5")
        assert result.exit_code == 1, result.output
        assert "No such option" not in result.output
        assert f"body.{field}:" in result.stderr and "422" in result.stderr
    assert as_json(server, "jobs", "scale", "negative", "0.5")["scale"] == 0.5


def test_putting_an_identical_schedule_says_unchanged(server: ServerProcess) -> None:
    spec = json.dumps(DROP)
    first = invoke(server, "schedules", "put", "same", "--spec", spec)
    assert first.exit_code == 0 and first.stdout.startswith("created same")
    again = invoke(server, "schedules", "put", "same", "--spec", spec)
    assert again.exit_code == 0
    assert again.stdout.startswith("unchanged: same version 1 already has this spec")
    # Whole numbers written as floats are the same spec.
    spelled = json.dumps({**DROP, "every": 10.0})
    assert invoke(server, "schedules", "put", "same", "--spec", spelled).stdout.startswith(
        "unchanged"
    )
    changed = invoke(
        server, "schedules", "put", "same", "--spec", json.dumps({**DROP, "drop": 0.25})
    )
    assert changed.exit_code == 0 and changed.stdout.startswith("new version of same")
    assert "same version 2 of 2" in changed.stdout


def test_integer_fields_come_back_as_integers(server: ServerProcess) -> None:
    created = as_json(server, "schedules", "put", "integers", "--spec", json.dumps(DROP))
    assert created["spec"] == {**DROP, "unit": "epoch"}
    assert type(created["spec"]["every"]) is int and type(created["spec"]["drop"]) is float
    shown = invoke(server, "schedules", "show", "integers").stdout
    assert '"every": 10,' in shown and '"offset": 1' in shown
    with Client(server.url) as client:
        job = client.put_job("integers", spec=DROP)
    assert job.spec["every"] == 10 and type(job.spec["every"]) is int


def test_preview_takes_what_if_metrics(server: ServerProcess, tmp_path: Path) -> None:
    spec = json.dumps(PLATEAU)
    blind = as_json(server, "schedules", "preview", "--spec", spec, "--epochs", "4")
    assert blind["learning_rates"] == [0.1] * 4  # no metrics: nothing to plateau on
    stuck = json.dumps([{"val_loss": 1.0}] * 4)
    seen = as_json(
        server, "schedules", "preview", "--spec", spec, "--epochs", "4", "--metrics", stuck
    )
    # Epoch 1 sees the first value (best so far); epochs 2 and 3 see no improvement (halved as
    # Keras does, through its float32 rate variable).
    assert seen["learning_rates"] == [0.1, 0.1, pytest.approx(0.05), pytest.approx(0.025)]
    (tmp_path / "metrics.json").write_text(stuck)
    from_file = as_json(
        server, "schedules", "preview", "--spec", spec, "--epochs", "4",
        "--metrics", f"@{tmp_path / 'metrics.json'}",
    )  # fmt: skip
    assert from_file == seen
    wrong = invoke(server, "schedules", "preview", "--spec", spec, "--metrics", '{"val_loss": 1}')
    assert wrong.exit_code == 2 and "one per epoch" in " ".join(wrong.output.split())


def test_plots_have_a_log_axis_in_previews_and_history(server: ServerProcess) -> None:
    decay = {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 1,
             "decay_rate": 0.1}  # fmt: skip
    args = ("schedules", "preview", "--spec", json.dumps(decay), "--epochs", "7", "--width", "7")
    linear = invoke(server, *args).stdout
    logged = invoke(server, *args, "--log").stdout
    bottom = [line.split("│")[1] for line in linear.splitlines() if "│" in line][-1]
    assert bottom[3:] == "    "  # on a linear axis epochs 3 to 6 (1e-4 to 1e-7) do not show
    log_rows = [line.split("│")[1] for line in logged.splitlines() if "│" in line]
    assert " " not in log_rows[-1]  # every epoch down to 1e-7 has a bar
    assert log_rows[0] == "█      " and "(log rate)" in logged

    with Client(server.url) as client:
        client.put_job("plotted", spec=decay)
        for epoch in range(7):
            client.decide("plotted", epoch, metrics={})
    history = invoke(server, "jobs", "history", "plotted", "--plot", "--log", "--limit", "2")
    assert history.exit_code == 0 and "showing" not in history.stderr  # a plot is of every page
    rows = [line.split("│")[1] for line in history.stdout.splitlines() if "│" in line]
    assert len(rows) == 10 and " " not in rows[-1].strip() and "(log rate)" in history.stdout


def test_the_readme_error_text_is_the_real_one_printed_once(server: ServerProcess) -> None:
    block = re.search(r"```console\n\$ lrhub (.*?)\n(.*?)```", README.read_text(), re.DOTALL)
    assert block is not None, "README shows a refused spec in a console block"
    command, shown = shlex.split(block.group(1)), block.group(2)
    result = invoke(server, *command)
    assert result.exit_code == 1
    assert result.stderr == shown
    assert result.stderr.count("decay_steps") == 1


def test_jobs_wait_shows_the_job_or_says_what_it_waited_for(server: ServerProcess) -> None:
    with Client(server.url) as client:
        client.put_job("waited", spec={"type": "constant", "learning_rate": 0.1})
        client.decide("waited", 0, metrics={})
    shown = as_json(server, "jobs", "wait", "waited", "--epoch", "0")
    assert (shown["job_id"], shown["last_epoch"]) == ("waited", 0)
    behind = invoke(server, "jobs", "wait", "waited", "--epoch", "3", "--timeout", "0.2")
    assert behind.exit_code == 1
    assert "gave up waiting for job waited to decide epoch 3" in behind.stderr
    assert "(last epoch 0)" in behind.stderr
    absent = invoke(server, "jobs", "wait", "absent", "--timeout", "0")
    assert absent.exit_code == 1 and "(it does not exist)" in absent.stderr


def test_png_plots_draw_drops_as_steps_on_a_log_axis(
    server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figure_module = pytest.importorskip("matplotlib.figure")
    saved: list[Any] = []
    save = figure_module.Figure.savefig

    def keep(figure: Any, *args: Any, **kwargs: Any) -> None:
        saved.append(figure)
        save(figure, *args, **kwargs)

    monkeypatch.setattr(figure_module.Figure, "savefig", keep)
    with Client(server.url) as client:
        client.put_job("png", spec=DROP)
        for epoch in range(12):
            client.decide("png", epoch, metrics={})
    preview = tmp_path / "preview.png"
    history = tmp_path / "history.png"
    spec = json.dumps(DROP)
    drawn = invoke(server, "schedules", "preview", "--spec", spec, "--epochs", "12", "--png",
                   str(preview), "--log")  # fmt: skip
    assert drawn.exit_code == 0, drawn.output
    listed = invoke(server, "jobs", "history", "png", "--png", str(history), "--log")
    assert listed.exit_code == 0, listed.output
    assert preview.read_bytes().startswith(b"\x89PNG")
    assert history.read_bytes().startswith(b"\x89PNG")
    for figure in saved:
        (axes,) = figure.axes
        (line,) = axes.lines
        assert line.get_drawstyle() == "steps-post" and axes.get_yscale() == "log"
        assert list(line.get_ydata()) == [0.1] * 9 + [0.05] * 3
    assert len(saved) == 2
