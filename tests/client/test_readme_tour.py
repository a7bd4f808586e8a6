"""The README's five-minute tour, typed in order by someone new: every `bash` block of it runs in
one shell against a real server, with the real Keras examples, and leaves what it describes."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.keras, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8000"


def tour_script() -> str:
    """The tour's shell commands; only the install line (done already) is left out."""
    text = (ROOT / "README.md").read_text()
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", tour, flags=re.DOTALL)
    assert len(blocks) >= 6, "the tour has lost its command blocks"
    lines = "".join(blocks).splitlines()
    assert lines[0].startswith(".venv/bin/pip install")
    return "\n".join(lines[1:]) + "\n"


def test_the_readme_tour_works_typed_in_order(live_server: ServerProcess, tmp_path: Path) -> None:
    # A checkout as the README assumes it: the examples and .venv in the working directory.
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    script = tour_script().replace(README_URL, live_server.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRHUB_")}
    env |= {"COLUMNS": "120", "PWD": str(tmp_path)}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"

    out = result.stdout
    assert "created ionosphere-drop" in out
    # Quiet: a line for the training, no epoch lines, no TensorFlow logs, no CSV but the asked one.
    assert re.search(r"job tour-1: 50 epochs, rate 0.1 -> 0.003125", out), out[-2000:]
    assert "Epoch 1/50" not in out and "tensorflow" not in (out + result.stderr).lower()
    assert out.count("epoch,learning_rate") == 1
    # The training of step 4 kept its output in its own log, out of the terminal.
    log = (tmp_path / "tour-2.log").read_text()
    assert "Epoch 1/200" in log and "Epoch 1/200" not in out
    assert re.search(r"trained \d+ epochs; rate 0.1 -> 0.01", log), log[-2000:]

    with Client(live_server.url) as client:
        steered = client.get_job("tour-2")
        events = client.events("tour-2").items
        history = client.history("tour-2", limit=1000).items
    assert steered.status == "stopped" and steered.override == 0.01
    assert steered.schedule.name == "ionosphere-drop"
    assert [event.action for event in events] == ["create", "update", "update", "stop"]
    # Each change took effect at the next epoch, and the last answer said stop.
    assert history[-1].stop and history[-1].learning_rate == 0.01
    assert [entry.schedule.name for entry in history[:3]] == [None, None, None]

    rows = list(csv.DictReader(io.StringIO(out[out.rindex("epoch,learning_rate") :])))
    assert [int(row["epoch"]) for row in rows] == list(range(50))
