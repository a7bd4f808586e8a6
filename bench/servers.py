"""Start the servers under test: lrhub (SQLite or PostgreSQL) and the no-op floor.

lrhub is started exactly as the end-to-end tests start it (`tests.support.server`); the floor
runs under the same uvicorn with the same settings, one worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.floor_app import (
    DATABASE_VARIABLE,
    RESPONSE_TEMPLATE_VARIABLE,
    THREADPOOL_VARIABLE,
    prepare_database,
)
from bench.machine import REPOSITORY
from tests.support.server import ServerProcess, free_port, running_server

# `lrhub serve` calls uvicorn.run with its defaults (uvloop, httptools, access log on) and
# LRHUB_LOG_LEVEL, default info: the floor gets the same.
UVICORN_SETTINGS = ("--log-level", "info")


@contextmanager
def lrhub_server(
    workdir: Path,
    database_url: str | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[ServerProcess]:
    """A real `lrhub serve` (SQLite file in `workdir` unless `database_url`; `env` adds
    `LRHUB_*` settings), stopped after."""
    workdir.mkdir(parents=True, exist_ok=True)
    with running_server(workdir, database_url=database_url, workers=workers, env=env) as server:
        yield server


@contextmanager
def floor_server(
    workdir: Path,
    response_template: dict[str, Any],
    workers: int = 1,
    threadpool: bool = False,
    database_url: str | None = None,
) -> Iterator[ServerProcess]:
    """The no-op FastAPI floor under uvicorn, answering `response_template`-sized JSON; its
    endpoint runs on the event loop, or in the thread pool when `threadpool`, and commits one
    INSERT per request on `database_url` when given (the durable floor)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if database_url:
        prepare_database(database_url)
    port = free_port()
    env = dict(os.environ)
    env[RESPONSE_TEMPLATE_VARIABLE] = json.dumps(response_template)
    env[THREADPOOL_VARIABLE] = "1" if threadpool else "0"
    env[DATABASE_VARIABLE] = database_url or ""
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), env.get("PYTHONPATH")]))
    log_path = workdir / f"floor-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "bench.floor_app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                *UVICORN_SETTINGS,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    server = ServerProcess(process=process, port=port, log_path=log_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def resident_memory_bytes(pid: int) -> int:
    """RSS of `pid` plus all its descendants (uvicorn workers), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        status = Path(f"/proc/{current}/status")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue  # the process ended while we looked
        pending.extend(int(child) for child in children)
    return total
