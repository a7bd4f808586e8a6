"""Packaging contract: three distributions sharing the namespace package `lrhub`, a light client
that never imports the server, complete wheels.

Import checks run in fresh interpreters (subprocess) so that whatever this test session already
imported cannot hide or fake an import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# source folder -> (distribution, import name); the folder's src/ holds the import path.
DISTRIBUTIONS = {
    "schedules": ("lrhub-schedules", "lrhub.schedules"),
    "client": ("lrhub", "lrhub.client"),
    "service": ("lrhub-server", "lrhub.service"),
}

# What `import lrhub.client` must leave unimported: the server stack and the Keras stack.
CLIENT_FORBIDDEN = (
    "tensorflow",
    "keras",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "lrhub.service",
)
# Third-party top-level modules `import lrhub.schedules` may load: pydantic and what it imports.
STDLIB_DIR = Path(sysconfig.get_paths()["stdlib"])
SCHEDULES_ALLOWED = {
    "lrhub",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
}


def python_outside_repo(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -c code` in an empty directory without PYTHONPATH, as an installed user would."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def modules_loaded_by(module: str, tmp_path: Path) -> dict[str, str | None]:
    """Module name -> file (None for built-ins) of what `import module` added to sys.modules
    in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"import {module}\n"
        "added = set(sys.modules) - before\n"
        "print(json.dumps({n: getattr(sys.modules[n], '__file__', None) for n in added}))\n"
    )
    result = python_outside_repo(code, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, str | None] = json.loads(result.stdout)
    return loaded


def is_stdlib(name: str, file: str | None) -> bool:
    """A standard-library module: a known stdlib name, or a file in the stdlib directory (the
    platform-generated `_sysconfigdata_*` modules are in no name list)."""
    if name.partition(".")[0] in sys.stdlib_module_names:
        return True
    return file is not None and Path(file).is_relative_to(STDLIB_DIR)


def project_table(folder: str) -> dict[str, Any]:
    """The `[project]` table of a distribution's pyproject.toml."""
    document = tomllib.loads((REPO_ROOT / folder / "pyproject.toml").read_text())
    project: dict[str, Any] = document["project"]
    return project


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_each_folder_is_its_distribution_with_the_import_path_as_its_path(folder: str) -> None:
    distribution, module = DISTRIBUTIONS[folder]
    assert project_table(folder)["name"] == distribution
    package = REPO_ROOT / folder / "src" / Path(*module.split("."))
    assert (package / "__init__.py").is_file()
    # `lrhub` is a namespace package shared by the three: no distribution may own it.
    assert not (REPO_ROOT / folder / "src" / "lrhub" / "__init__.py").exists()


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_source_folders_are_not_importable_by_folder_name(folder: str, tmp_path: Path) -> None:
    result = python_outside_repo(f"import {folder}", tmp_path)
    assert result.returncode != 0, f"`import {folder}` worked outside the repository"
    assert f"No module named '{folder}'" in result.stderr


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_installed_packages_resolve_to_the_repository_files(folder: str, tmp_path: Path) -> None:
    module = DISTRIBUTIONS[folder][1]
    result = python_outside_repo(f"import {module}; print({module}.__file__)", tmp_path)
    assert result.returncode == 0, result.stderr
    expected = REPO_ROOT / folder / "src" / Path(*module.split(".")) / "__init__.py"
    assert Path(result.stdout.strip()) == expected


def test_client_import_leaves_server_and_keras_stacks_unloaded(tmp_path: Path) -> None:
    loaded = modules_loaded_by("lrhub.client", tmp_path)
    assert "lrhub.client" in loaded
    offenders = sorted(
        name
        for name in loaded
        for forbidden in CLIENT_FORBIDDEN
        if name == forbidden or name.startswith(forbidden + ".")
    )
    assert offenders == [], f"import lrhub.client pulled in: {offenders}"


def test_schedules_import_only_pydantic_and_stdlib(tmp_path: Path) -> None:
    loaded = modules_loaded_by("lrhub.schedules", tmp_path)
    assert "lrhub.schedules" in loaded
    foreign = sorted(
        {name.partition(".")[0] for name, file in loaded.items() if not is_stdlib(name, file)}
        - SCHEDULES_ALLOWED
    )
    assert foreign == [], f"import lrhub.schedules pulled in non-stdlib modules: {foreign}"


def build_wheel(folder: str, wheel_dir: Path, scratch: Path) -> Path:
    """Build one distribution's wheel with pip, as the Dockerfile's builder does, from a copy of
    its folder (so the build leaves no build/ in the work tree)."""
    source = scratch / folder
    shutil.copytree(
        REPO_ROOT / folder, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build")
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheel_dir), source],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"wheel build failed:\n{build.stdout}\n{build.stderr}"
    distribution = DISTRIBUTIONS[folder][0].replace("-", "_")
    (wheel,) = wheel_dir.glob(f"{distribution}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folder -> a wheel freshly built from it."""
    wheel_dir = tmp_path_factory.mktemp("dist")
    scratch = tmp_path_factory.mktemp("wheel-source")
    return {folder: build_wheel(folder, wheel_dir, scratch) for folder in DISTRIBUTIONS}


def wheel_files(wheel: Path) -> set[str]:
    """File names inside a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def wheel_requirements(wheel: Path) -> list[str]:
    """The `Requires-Dist` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    return [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]


@pytest.mark.slow
@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_wheel_ships_every_module_and_data_file(folder: str, wheels: dict[str, Path]) -> None:
    source = REPO_ROOT / folder / "src"
    expected = sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.suffix in {".py", ".ini", ".typed", ".mako"} and "__pycache__" not in path.parts
    )
    names = wheel_files(wheels[folder])
    missing = [path for path in expected if path not in names]
    assert missing == [], f"source files missing from the {folder} wheel: {missing}"
    top_level = {name.partition("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"lrhub"}
    assert "lrhub/__init__.py" not in names


@pytest.mark.slow
def test_server_wheel_ships_its_migrations(wheels: dict[str, Path]) -> None:
    names = wheel_files(wheels["service"])
    assert "lrhub/service/storage/alembic.ini" in names
    assert "lrhub/service/storage/migrations/versions/0001_initial.py" in names


@pytest.mark.slow
def test_client_wheel_requires_tensorflow_only_with_the_keras_extra_and_never_the_server(
    wheels: dict[str, Path],
) -> None:
    requirements = wheel_requirements(wheels["client"])
    tensorflow = [line for line in requirements if "tensorflow" in line]
    assert tensorflow, "the keras extra no longer requires tensorflow"
    assert all('extra == "keras"' in line for line in tensorflow), tensorflow
    server_stack = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "lrhub-server")
    assert [r for r in requirements if any(name in r for name in server_stack)] == []
    assert any(line.startswith("Requires-Dist: lrhub-schedules") for line in requirements)


@pytest.mark.slow
def test_client_works_where_the_server_is_not_installed(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    """The client and the engine installed alone, from their wheels, in a venv that cannot see
    the server: every client module imports and the CLI answers."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for folder in ("schedules", "client"):
        with zipfile.ZipFile(wheels[folder]) as archive:
            archive.extractall(site_packages)
    # Third-party dependencies (httpx, pydantic, ...) from this interpreter's site-packages, added
    # as a plain path: its .pth files, which install this repository's lrhub.service, are not run.
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import importlib, importlib.util, pkgutil, lrhub.client\n"
        "assert importlib.util.find_spec('lrhub.service') is None, 'the server is visible'\n"
        "for info in pkgutil.walk_packages(lrhub.client.__path__, 'lrhub.client.'):\n"
        "    importlib.import_module(info.name)\n"
        "    print(info.name)\n"
    )
    result = subprocess.run(
        [python, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "lrhub.client.cli" in result.stdout.split()
    assert "lrhub.client.keras" in result.stdout.split()
    help_text = subprocess.run(
        [python, "-m", "lrhub.client.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "schedules" in help_text.stdout


@pytest.mark.slow
def test_server_wheel_ships_the_dashboard_and_docs_assets(wheels: dict[str, Path]) -> None:
    """Every file /ui and /docs serve is inside the wheel (an installed server works offline)."""
    static = REPO_ROOT / "service" / "src" / "lrhub" / "service" / "ui" / "static"
    expected = sorted(
        f"lrhub/service/ui/static/{path.relative_to(static).as_posix()}"
        for path in static.rglob("*")
        if path.is_file()
    )
    assert "lrhub/service/ui/static/index.html" in expected
    assert "lrhub/service/ui/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in expected
    names = wheel_files(wheels["service"])
    assert [path for path in expected if path not in names] == []
