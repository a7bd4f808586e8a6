"""The Dockerfile: lint-clean, and its install and start steps work when replayed outside Docker.

No Docker engine runs here, so the replay does what the image build does in a plain virtual
environment: the builder stage's COPY and RUN lines (read from the Dockerfile, image paths mapped
to temporary directories), then the runtime stage's ENV, CMD and HEALTHCHECK. The runtime stage's
own RUN (creating the system user) needs root and is not replayed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.dockerfile import (
    DOCKERFILE,
    REPO_ROOT,
    Stage,
    project_dockerignore,
    project_stages,
)
from tests.support.server import STARTUP_DEADLINE_SECONDS, ServerProcess, free_port

HADOLINT = Path(sys.executable).parent / "hadolint"
ADMIN_TOKEN = "ops:replay-admin-secret"  # what `docker run -e LRHUB_ADMIN_TOKEN=` passes


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_stage_contract() -> None:
    *builders, runtime = project_stages()
    assert builders, "the image is meant to be multi-stage: build tools stay out of the runtime"
    for stage in (*builders, runtime):
        assert stage.base == "python:3.11-slim"
    user = runtime.last("USER").split(":")[0]
    assert user not in {"root", "0"}
    env = runtime.env()
    volume = runtime.last("VOLUME")
    assert env["LRHUB_DATABASE_URL"] == f"sqlite:///{volume}/lrhub.db"
    assert runtime.last("EXPOSE") == env["LRHUB_PORT"]
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    command = runtime.exec_form("CMD")
    assert command[command.index("--workers") + 1] == "1"
    assert "--insecure" not in command


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest() -> None:
    context = project_dockerignore()
    builder = project_stages()[0]
    sources = [src for args in builder.arguments("COPY") for src in shlex.split(args)[:-1]]
    for source in sources:
        origin = REPO_ROOT / source
        files = [origin] if origin.is_file() else list(origin.rglob("*.py"))
        assert files, source
        kept = [f for f in files if not context.excludes(f.relative_to(REPO_ROOT).as_posix())]
        assert kept == files, f"COPY {source}: .dockerignore drops {set(files) - set(kept)}"
    for local_only in (
        ".venv/bin/python",
        "tests/conftest.py",
        "lrhub.db",
        "deploy/server.yaml",
        "service/src/lrhub/service/__pycache__/app.cpython-311.pyc",
        "service/build/lib/lrhub/service/app.py",
        "client/src/lrhub/client/cli.py",
        ".git/HEAD",
    ):
        assert context.excludes(local_only), local_only


@dataclass
class ReplayedImage:
    """The image's venv installed under a temp dir, and how the runtime stage starts things."""

    venv: Path
    data: Path
    env: dict[str, str]
    command: list[str]
    healthcheck: list[str]

    def python(self, code: str) -> str:
        """Run code with the image's interpreter; its stdout."""
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    def run_healthcheck(self, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run the HEALTHCHECK command as Docker would inside a container started with `env`."""
        return subprocess.run(
            self.healthcheck,
            env={**self.env, **env},
            cwd=self.data,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self, port: int, env: dict[str, str], log: Path) -> ServerProcess:
        """Start the CMD on `port` with the image's environment plus `env`, output to `log`."""
        with log.open("wb") as output:
            process = subprocess.Popen(
                self.command,
                env={**self.env, "LRHUB_PORT": str(port), **env},
                cwd=self.data,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return ServerProcess(process=process, port=port, log_path=log)


def host_environment() -> dict[str, str]:
    """This machine's environment minus anything that would leak into the image's processes;
    the base interpreter's bin/ first on PATH, standing in for the image's /usr/local/bin."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LRHUB_") and key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    env["PATH"] = os.pathsep.join([sysconfig.get_config_var("BINDIR"), env.get("PATH", "")])
    return env


def relocated(value: str, paths: dict[str, Path]) -> str:
    """`value` with each image path in it (a whole path component, as in `/opt/venv/bin:$PATH`
    or `sqlite:////data/lrhub.db`) replaced by its temp-dir stand-in."""
    for image_path, local in paths.items():
        value = re.sub(rf"(?<![\w.-]){re.escape(image_path)}(?=[/:]|$)", str(local), value)
    return value


def replay_copy(arguments: str, workdir: Path) -> None:
    """A builder COPY from the repository, filtered by .dockerignore like the build context,
    into the stand-in WORKDIR."""
    *sources, destination = shlex.split(arguments)
    target = workdir / destination
    context = project_dockerignore()
    for source in sources:
        origin = REPO_ROOT / source
        # `COPY file dest/` copies the file; `COPY dir/ dest/` the directory's contents.
        if origin.is_file():
            copies = [(origin, target / origin.name)]
        else:
            copies = [(p, target / p.relative_to(origin)) for p in origin.rglob("*") if p.is_file()]
        for path, copy in copies:
            if not context.excludes(path.relative_to(REPO_ROOT).as_posix()):
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)


def replay_builder(builder: Stage, paths: dict[str, Path], base_env: dict[str, str]) -> None:
    """Run the builder stage's COPY and RUN lines in order, as `docker build` would."""
    workdir = Path(relocated(builder.last("WORKDIR"), paths))
    workdir.mkdir(parents=True)
    env = builder.env(base_env, rewrite=lambda value: relocated(value, paths))
    for instruction in builder.instructions:
        if instruction.keyword == "COPY":
            replay_copy(instruction.arguments, workdir)
        elif instruction.keyword == "RUN":
            step = subprocess.run(
                ["/bin/sh", "-c", instruction.arguments],
                env=env,
                cwd=workdir,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert step.returncode == 0, f"RUN failed:\n{step.stdout}\n{step.stderr}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> ReplayedImage:
    """Build and install the image's venv the way the Dockerfile does, under a temp dir."""
    root = tmp_path_factory.mktemp("image")
    builder, runtime = project_stages()
    venv_path = builder.env()["VIRTUAL_ENV"]
    # The runtime must receive the venv at the path it was built at (scripts embed it).
    assert f"--from={builder.name} {venv_path} {venv_path}" in runtime.arguments("COPY")
    paths = {
        venv_path: root / "venv",
        builder.last("WORKDIR"): root / "src",
        runtime.last("VOLUME"): root / "data",
    }
    base_env = host_environment()
    replay_builder(builder, paths, base_env)
    (root / "data").mkdir()
    env = runtime.env(base_env, rewrite=lambda value: relocated(value, paths))
    return ReplayedImage(
        venv=root / "venv",
        data=root / "data",
        env=env,
        command=runtime.exec_form("CMD"),
        healthcheck=runtime.healthcheck_command(),
    )


@pytest.mark.slow
def test_image_venv_has_the_server_and_neither_client_nor_tensorflow(image: ReplayedImage) -> None:
    installed = json.loads(
        image.python(
            "import importlib.metadata as m, json;"
            "print(json.dumps(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
        )
    )
    assert "tensorflow" not in installed
    assert "keras" not in installed
    assert "lrhub" not in installed, "the client distribution is not part of the server image"
    assert {
        "lrhub-server",
        "lrhub-schedules",
        "fastapi",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "psycopg",
    } <= set(installed)
    # The wheel was installed, not the work tree: modules resolve inside the venv.
    service_file = image.python("import lrhub.service; print(lrhub.service.__file__)").strip()
    assert Path(service_file).is_relative_to(image.venv)


@pytest.fixture
def started_image(image: ReplayedImage, tmp_path: Path) -> Iterator[ServerProcess]:
    """The image's CMD serving on a free port with an admin token, as `docker run -e` gives it."""
    server = image.start(free_port(), {"LRHUB_ADMIN_TOKEN": ADMIN_TOKEN}, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            server.kill()


@pytest.mark.slow
def test_image_command_serves_checks_healthy_and_stops_on_sigterm(
    image: ReplayedImage, started_image: ServerProcess
) -> None:
    server = started_image
    container_env = {"LRHUB_PORT": str(server.port)}
    healthcheck = image.run_healthcheck(container_env)
    assert healthcheck.returncode == 0, healthcheck.stderr

    # The admin token passed at `docker run` is in force: the API is closed without it.
    assert httpx.get(f"{server.url}/v1/schedules", timeout=10).status_code == 401
    secret = ADMIN_TOKEN.partition(":")[2]
    authorized = httpx.get(
        f"{server.url}/v1/schedules", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert authorized.status_code == 200, authorized.text
    assert (image.data / "lrhub.db").is_file(), "the SQLite file is not on the /data volume"

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0, server.log()
    assert image.run_healthcheck(container_env).returncode != 0, "healthcheck passes, no server"


@pytest.mark.slow
def test_image_command_refuses_to_serve_without_admin_tokens(
    image: ReplayedImage, tmp_path: Path
) -> None:
    server = image.start(free_port(), {}, tmp_path / "server.log")
    try:
        returncode = server.process.wait(timeout=STARTUP_DEADLINE_SECONDS)
    finally:
        if server.process.poll() is None:
            server.kill()
    assert returncode != 0
    assert "LRHUB_ADMIN_TOKEN" in server.log()
