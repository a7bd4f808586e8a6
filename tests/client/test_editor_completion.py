"""An editor completes every adapter's job options (declared once, `JobOptionKeywords`, and taken
as `**options`) beside the adapter's own parameters: jedi, the engine behind many editors' Python
support, reads them statically, without importing any framework."""

from __future__ import annotations

import sys
import typing
from pathlib import Path

import jedi
import pytest

from lrhub.client.training import JobOptionKeywords, RunOptionKeywords

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_OPTIONS = set(typing.get_type_hints(JobOptionKeywords))


def completed_keywords(module: str, name: str) -> set[str]:
    """The keyword arguments jedi offers inside `name(` imported from `module`."""
    line = f"{name}(None, "
    code = f"from {module} import {name}\n{line}"
    project = jedi.Project(REPO_ROOT, environment_path=sys.prefix)
    script = jedi.Script(code=code, path=REPO_ROOT / "tests/client/probe.py", project=project)
    return {c.name.removesuffix("=") for c in script.complete(2, len(line)) if c.name.endswith("=")}


@pytest.mark.parametrize(
    ("module", "name", "own"),
    [
        ("lrhub.client.keras", "RemoteLearningRate", {"per_step", "verbose"}),
        (
            "lrhub.client.torch",
            "RemoteScheduler",
            {"per_step", "steps_per_epoch", "epochs", "monitor"},
        ),
        ("lrhub.client.lightning", "RemoteLearningRate", {"monitor", "log_rate"}),
        ("lrhub.client.transformers", "RemoteLearningRate", {"monitor"}),
    ],
)
def test_an_editor_completes_the_job_options_of_every_adapter(
    module: str, name: str, own: set[str]
) -> None:
    assert completed_keywords(module, name) >= JOB_OPTIONS | own


def test_an_editor_completes_the_options_of_a_job_run() -> None:
    assert set(typing.get_type_hints(RunOptionKeywords)) == JOB_OPTIONS - {"job"}
    assert completed_keywords("lrhub.client.training", "JobRun") >= JOB_OPTIONS - {"job"}
