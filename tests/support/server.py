"""Start real `lrhub serve` processes on free loopback ports for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

STARTUP_DEADLINE_SECONDS = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A `lrhub serve` child process and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, deadline_seconds: float = STARTUP_DEADLINE_SECONDS) -> None:
        """Poll /readyz until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + deadline_seconds
        # One client for all the polls: each `httpx.get` builds a client and its TLS context
        # (~20 ms of CPU), taken from the server booting on the same two cores.
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise RuntimeError(f"lrhub serve exited with {code}:\n{self.log()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # polling interval while the server boots, not a race guard
        raise TimeoutError(f"lrhub serve not ready after {deadline_seconds}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush; what a pod eviction or OOM kill does."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait: a graceful stop."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def serve_command(
    *, host: str = "127.0.0.1", port: int, workers: int = 1, extra_args: tuple[str, ...] = ()
) -> list[str]:
    """The argv of `python -m lrhub.service serve` (what `lrhub serve` runs)."""
    return [
        sys.executable, "-m", "lrhub.service", "serve", "--host", host,
        "--port", str(port), "--workers", str(workers), *extra_args,
    ]  # fmt: skip


def server_env(
    tmp_path: Path, *, database_url: str | None = None, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's environment: ours without any LRHUB_ variable, plus the database and `env`."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LRHUB_")}
    child_env["LRHUB_DATABASE_URL"] = database_url or f"sqlite:///{tmp_path / 'lrhub.db'}"
    child_env.update(env or {})
    return child_env


def launch_server(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    port: int | None = None,
    host: str = "127.0.0.1",
    extra_args: tuple[str, ...] = (),
) -> ServerProcess:
    """Start `python -m lrhub.service serve` (what `lrhub serve` runs) without waiting for it.

    Each start logs to its own file, so a server restarted on the same port keeps the old log.
    """
    port = port or free_port()
    log_fd, log_name = tempfile.mkstemp(prefix=f"server-{port}-", suffix=".log", dir=tmp_path)
    with open(log_fd, "wb") as log:
        process = subprocess.Popen(
            serve_command(host=host, port=port, workers=workers, extra_args=extra_args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(tmp_path, database_url=database_url, env=env),
            cwd=tmp_path,
        )
    return ServerProcess(process=process, port=port, log_path=Path(log_name))


def start_server(tmp_path: Path, **kwargs: Any) -> ServerProcess:
    """`launch_server(tmp_path, **kwargs)` and wait until it is ready; stop it if it never is."""
    server = launch_server(tmp_path, **kwargs)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running_server(tmp_path: Path, **kwargs: object) -> Iterator[ServerProcess]:
    """A started server, stopped at the end of the block."""
    server = start_server(tmp_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_replicas(
    tmp_path: Path, database_url: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers sharing `database_url`, stopped at the end of the block. The second starts on
    the schema the first created, as a replica joining a running deployment does."""
    with (
        running_server(tmp_path, database_url=database_url, env=env) as first,
        running_server(tmp_path, database_url=database_url, env=env) as second,
    ):
        yield first, second
