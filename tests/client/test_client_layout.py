"""The client's layout (CONTRIBUTING.md, "Layout in short"): no module over 500 lines."""

from __future__ import annotations

from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client/src/lrhub/client"
MAX_LINES = 500


def test_no_client_module_is_over_500_lines() -> None:
    lengths = {
        path.relative_to(CLIENT).as_posix(): len(path.read_text().splitlines())
        for path in CLIENT.rglob("*.py")
    }
    assert "cli/__init__.py" in lengths
    assert {path: lines for path, lines in lengths.items() if lines > MAX_LINES} == {}
