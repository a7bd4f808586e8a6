"""The repository stands alone: no tracked file points at files users of a clone do not have.

Design notes and background articles that live outside the repository are described in words
(docs/design.md, "the Ionosphere experiment"), never referenced by path; and nothing mentions the
0.1.0 layout's packaging tricks (setuptools' folder remapping, a symlinked type-checking tree).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Paths outside the repository, and the 0.1.0 layout's packaging tricks. Each pattern is written
# in two pieces so that this file does not match itself.
FORBIDDEN = "|".join(
    first + second
    for first, second in [
        (r"\.\./", "shared"),
        ("shared", "/"),
        ("seeds", "/"),
        ("mypy", "-path"),
        ("package", "-dir"),
    ]
)


def _is_git_checkout(root: Path) -> bool:
    if shutil.which("git") is None:
        return False
    probe = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "true"


def test_no_tracked_file_points_outside_the_repository() -> None:
    if not _is_git_checkout(REPO_ROOT):
        pytest.skip(f"{REPO_ROOT} is not a git checkout (or git is missing): no tracked files")
    found = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "grep", "-n", "-E", FORBIDDEN, "--", "."],
        capture_output=True,
        text=True,
        check=False,
    )
    # git grep exits 1 when nothing matches, 0 when something does, above 1 on an error.
    assert found.returncode in (0, 1), found.stderr
    assert found.stdout == "", "references to files outside the repository:\n" + found.stdout
