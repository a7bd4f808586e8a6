"""`import lrhub.client` stays light: a training job or operator must not pay for the server."""

from __future__ import annotations

import subprocess
import sys

HEAVY_MODULES = (
    "tensorflow", "keras", "torch", "lightning", "transformers", "fastapi", "sqlalchemy",
    "lrhub.service",
)  # fmt: skip


def test_importing_the_client_imports_no_framework_fastapi_or_sqlalchemy() -> None:
    probe = (
        "import sys, lrhub.client, lrhub.client.cli, lrhub.client.outage\n"
        "import lrhub.client.local_decisions, lrhub.client.training\n"
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_are_sorted_and_exported() -> None:
    import lrhub.client

    assert lrhub.client.__all__ == sorted(lrhub.client.__all__)
    assert all(hasattr(lrhub.client, name) for name in lrhub.client.__all__)
