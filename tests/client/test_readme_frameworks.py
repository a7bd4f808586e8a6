"""The README's PyTorch, Lightning and Transformers examples, copied and pasted as they are: each
runs in its own process against a real server and leaves the job it describes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lrhub.client import Client
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.torch, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = {"PyTorch": "torch-run-1", "Lightning": "lightning-run-1"}
SECTIONS["Hugging Face Transformers"] = "bert-run-1"


def example(section: str) -> str:
    """The first python block of a README section."""
    text = README.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", body, re.S)
    assert match, f"README section {section!r} has no python example"
    return match.group(1)


@pytest.mark.parametrize(("section", "job"), SECTIONS.items())
def test_the_readme_example_trains_through_the_service(
    section: str, job: str, live_server: ServerProcess, tmp_path: Path
) -> None:
    pytest.importorskip({"PyTorch": "torch", "Lightning": "lightning"}.get(section, "transformers"))
    script = tmp_path / "example.py"
    script.write_text(example(section))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LRHUB_")}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        env={**environment, "LRHUB_URL": live_server.url}, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with Client(live_server.url) as client:
        assert client.get_job(job).status == "completed"
        history = client.history(job).items
    assert len(history) > 1
    assert all(entry.metrics for entry in history)  # every epoch's or round's metrics arrived
