"""`lrhub serve`: the server, when it is installed (`pip install lrhub-server`)."""

from __future__ import annotations

import importlib.util
import os
import sys

import typer

SERVER_MODULES = ("lrhub.service", "fastapi", "uvicorn", "sqlalchemy", "alembic")
# `serve` passes every argument on to the server's own command.
CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def serve(ctx: typer.Context) -> None:
    """Run the server: `lrhub serve [--host 127.0.0.1] [--port 8000] [--workers N]`.

    Replaces this process with `python -m lrhub.service serve` and the same arguments; the
    database is LRHUB_DATABASE_URL (default: an SQLite file in the working directory).
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        typer.echo(
            f"error: the server is not installed (missing {', '.join(missing)}); "
            "install it with: pip install lrhub-server",
            err=True,
        )
        raise typer.Exit(code=1)
    command = [sys.executable, "-m", "lrhub.service", "serve", *ctx.args]
    os.execv(sys.executable, command)
