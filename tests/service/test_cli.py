"""`python -m lrhub.service serve`: the loopback rule (serving itself is tested in system/)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lrhub.service.cli import is_loopback
from tests.support.server import free_port, serve_command, server_env


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refuses_a_public_host_without_admin_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_command(host="0.0.0.0", port=free_port()),
        env=server_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LRHUB_ADMIN_TOKEN" in result.stderr and "--insecure" in result.stderr
    assert not (tmp_path / "lrhub.db").exists()  # refused before touching the database


@pytest.mark.parametrize(
    ("admin_token", "words"),
    [("admin:", "0 characters"), ("ops:tooSh0rt", "8 characters"), (",", "item 1"),
     ("ops:a-secret-long-enough,", "item 2")],
)  # fmt: skip
def test_serve_refuses_empty_or_short_admin_secrets(
    tmp_path: Path, admin_token: str, words: str
) -> None:
    """`LRHUB_ADMIN_TOKEN=admin:` (an unset variable) would start a server no one can use."""
    result = subprocess.run(
        serve_command(port=free_port()),
        env=server_env(tmp_path, env={"LRHUB_ADMIN_TOKEN": admin_token}),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "LRHUB_ADMIN_TOKEN" in result.stderr and words in result.stderr, result.stderr
    assert "tooSh0rt" not in result.stderr + result.stdout  # never a secret in the log
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lrhub.db").exists()
