"""The dashboard's pure JavaScript functions (SSE parsing, column reduction, marks) under
node's own test runner; the browser tests cover the pages."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent / "js" / "modules.test.mjs"


def test_dashboard_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", str(TESTS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
    # Every test in the file ran and passed (none skipped or lost to an import error).
    written = len(re.findall(r"^test\(", TESTS.read_text(), flags=re.MULTILINE))
    assert written > 0 and f"# pass {written}\n" in result.stdout
