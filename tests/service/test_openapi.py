"""The committed openapi.json is the app's schema; regenerate with tools/export_openapi.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def export_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", ROOT / "tools/export_openapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_openapi_matches_the_app() -> None:
    committed = (ROOT / "openapi.json").read_text()
    assert committed == export_tool().openapi_text(), (
        "openapi.json is stale: run .venv/bin/python tools/export_openapi.py"
    )


def test_error_answers_are_documented_as_problems() -> None:
    schema = json.loads(export_tool().openapi_text())
    decision = schema["paths"]["/v1/jobs/{job_id}/epochs/{epoch}"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "413", "422"):
        assert list(decision[status]["content"]) == ["application/problem+json"], status
    assert "HTTPValidationError" not in schema["components"]["schemas"]
