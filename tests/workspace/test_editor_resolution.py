"""An editor's jump-to-definition (jedi, the engine behind many editors' Python support) lands on
the repository's files: every `lrhub.*` import resolves statically, without running import hooks."""

from __future__ import annotations

import sys
from pathlib import Path

import jedi
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DECISION_SERVICE = REPO_ROOT / "service/src/lrhub/service/decisions/service.py"


def goto(path: Path, name: str) -> list[Path]:
    """Where jedi's goto (follow imports) takes the first use of `name` after its import."""
    project = jedi.Project(REPO_ROOT, environment_path=sys.prefix)
    script = jedi.Script(path=path, project=project)
    lines = path.read_text().splitlines()
    # The first line that uses the name outside an import statement.
    line, column = next(
        (number, text.index(name))
        for number, text in enumerate(lines, start=1)
        if name + "(" in text and not text.lstrip().startswith(("from ", "import ", "def "))
    )
    definitions = script.goto(line, column + 1, follow_imports=True)
    return [d.module_path for d in definitions if d.module_path is not None]


@pytest.mark.parametrize(
    ("name", "defined_in"),
    [
        ("effective_clock_origin", "schedules/src/lrhub/schedules/operators.py"),
        ("load_spec", "service/src/lrhub/service/stored_specs.py"),
        ("get_version", "service/src/lrhub/service/catalog/store.py"),
    ],
)
def test_goto_from_a_service_file_lands_in_the_repository(name: str, defined_in: str) -> None:
    assert goto(DECISION_SERVICE, name) == [REPO_ROOT / defined_in]
