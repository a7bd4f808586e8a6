"""Settings: read as documented, and every one documented (the README's settings tables hold every
setting the server and client read, and every setting a message names)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from lrhub.client.settings import ClientSettings
from lrhub.service.settings import ServerSettings
from tests.support.server import running_server

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCES = [
    REPOSITORY / "service" / "src",
    REPOSITORY / "client" / "src",
    REPOSITORY / "schedules" / "src",
]
# `LRHUB_MAX_*` in a docstring names a family, not a setting.
SETTING = re.compile(r"\bLRHUB_[A-Z0-9_]*[A-Z0-9]\b")


def documented_settings() -> set[str]:
    """The variables in the first column of the README's settings tables."""
    readme = (REPOSITORY / "README.md").read_text()
    return set(re.findall(r"^\| `(LRHUB_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))


def test_every_setting_read_or_named_is_in_the_readme_tables() -> None:
    documented = documented_settings()
    read = {f"LRHUB_{name.upper()}" for name in ServerSettings.model_fields}
    read |= {f"LRHUB_{name.upper()}" for name in ClientSettings.model_fields}
    named = {
        match
        for root in SOURCES
        for path in root.rglob("*.py")
        for match in SETTING.findall(path.read_text())
    }
    assert "LRHUB_MAX_PREVIEW_STEPS" in named  # the scan finds what messages name
    assert sorted((read | named) - documented) == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("60", 60), (" 90.5 ", 90.5), ("PT15M", 900), ("P1D", 86400)]
)
def test_stale_after_is_seconds_or_an_iso_duration(
    monkeypatch: pytest.MonkeyPatch, text: str, seconds: float
) -> None:
    monkeypatch.setenv("LRHUB_STALE_AFTER", text)
    assert ServerSettings().stale_after == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "soon"])
def test_a_stale_after_that_is_no_duration_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("LRHUB_STALE_AFTER", text)
    with pytest.raises(ValidationError, match="stale_after"):
        ServerSettings()


def test_the_server_starts_with_stale_after_in_seconds(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"LRHUB_STALE_AFTER": "60"}) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
