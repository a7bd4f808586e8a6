"""`python -m lrhub.service serve`: migrate the database, then run uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from lrhub.service.metrics.multiprocess import MULTIPROCESS_DIRECTORY_VARIABLE
from lrhub.service.settings import ServerSettings
from lrhub.service.storage.database import make_engine
from lrhub.service.storage.migrate import upgrade_schema

MIGRATION_LOCK_TIMEOUT_SECONDS = 120.0
# Open event streams never end by themselves: on SIGTERM uvicorn waits this long for requests in
# flight, then cancels what is left (the streams), whose clients resume on another replica.
SHUTDOWN_GRACE_SECONDS = 5

cli = typer.Typer(
    help="The lrhub server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: exit 0. uvicorn drains connections first, then re-raises the signal it
    caught; without this the process dies by that signal and orchestrators record a failure."""
    raise SystemExit(0)


@cli.callback()
def main() -> None:
    """The lrhub server."""


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [LRHUB_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port [LRHUB_PORT].")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=256, help="Worker processes [LRHUB_WORKERS].")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback host without admin tokens.")
    ] = False,
) -> None:
    """Create or upgrade the schema in LRHUB_DATABASE_URL and serve the API until stopped."""
    try:
        settings = ServerSettings()
    except ValidationError as error:
        for problem in error.errors(include_input=False):
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"]:
                field = "LRHUB_" + "_".join(str(part) for part in problem["loc"]).upper()
                message = f"{field}: {message}"
            typer.echo(f"refusing to start: {message}", err=True)
        raise typer.Exit(code=2) from None
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    if (
        not settings.admin_tokens()
        and not is_loopback(host)
        and not (insecure or settings.insecure)
    ):
        typer.echo(
            f"refusing to listen on {host} without LRHUB_ADMIN_TOKEN: anyone could change "
            "learning rates. Set LRHUB_ADMIN_TOKEN, listen on 127.0.0.1, or pass --insecure.",
            err=True,
        )
        raise typer.Exit(code=2)
    # Servers starting together queue on the migration lock: give them longer than a request.
    engine = make_engine(
        settings.database_url, lock_timeout=MIGRATION_LOCK_TIMEOUT_SECONDS, io_timeout=None
    )
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()
    signal.signal(signal.SIGTERM, exit_cleanly)
    with _shared_worker_metrics(workers):
        uvicorn.run(
            "lrhub.service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            http="lrhub.service.http.connections:HeaderDeadlineProtocol",
            timeout_keep_alive=settings.keep_alive_timeout,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )


@contextlib.contextmanager
def _shared_worker_metrics(workers: int) -> Iterator[None]:
    """With several workers, give them one fresh multi-process metrics directory, so a scrape
    reaching any worker counts all of them (removed when the server stops). A directory the
    operator set already is used as it is."""
    if workers == 1 or os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE):
        yield
        return
    # Set before uvicorn spawns the workers: prometheus-client reads it when they import it.
    directory = tempfile.mkdtemp(prefix="lrhub-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)
