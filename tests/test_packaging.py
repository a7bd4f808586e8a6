"""Packaging contract: namespaced import names, light client and schedules, complete wheel.

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

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
# import name -> source folder, e.g. "lrhub.service" -> "service"
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]

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


@pytest.mark.parametrize("folder", sorted(PACKAGE_DIRS.values()))
def test_source_folders_are_not_importable_by_folder_name(folder: str, tmp_path: Path) -> None:
    result = python_outside_repo(f"import {folder}", tmp_path)
    assert result.returncode != 0, f"`import {folder}` worked outside the repository"
    assert f"No module named '{folder}'" in result.stderr


@pytest.mark.parametrize("module", sorted(PACKAGE_DIRS))
def test_namespaced_packages_import_outside_repo(module: str, tmp_path: Path) -> None:
    result = python_outside_repo(f"import {module}", tmp_path)
    assert result.returncode == 0, result.stderr


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


def copy_sources(destination: Path) -> Path:
    """Copy what a wheel is built from, so the build leaves no build/ in the work tree."""
    source = destination / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(
            REPO_ROOT / folder,
            source / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    return source


def build_wheel(source: Path, wheel_dir: Path) -> Path:
    """Build the project's wheel from `source` with pip, as the Dockerfile's builder does."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(wheel_dir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, f"wheel build failed:\n{build.stdout}\n{build.stderr}"
    (wheel,) = wheel_dir.glob("lrhub-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the package sources the wheel is built from."""
    return copy_sources(tmp_path_factory.mktemp("wheel-source"))


@pytest.fixture(scope="module")
def wheel_path(wheel_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lrhub wheel freshly built from `wheel_source`."""
    return build_wheel(wheel_source, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def wheel_names(wheel_path: Path) -> set[str]:
    """File names inside the built wheel."""
    with zipfile.ZipFile(wheel_path) as archive:
        return set(archive.namelist())


def shipped_source_files(source: Path) -> list[tuple[str, str]]:
    """(source path, expected wheel path) for every module and data file a package folder holds."""
    expected = []
    for module, folder in PACKAGE_DIRS.items():
        for path in sorted((source / folder).rglob("*")):
            if path.suffix in {".py", ".ini", ".typed"}:
                relative = path.relative_to(source / folder).as_posix()
                expected.append((f"{folder}/{relative}", f"{module.replace('.', '/')}/{relative}"))
    return expected


@pytest.mark.slow
def test_wheel_ships_every_module_migration_and_alembic_config(
    wheel_source: Path, wheel_names: set[str]
) -> None:
    expected = shipped_source_files(wheel_source)
    missing = [source for source, in_wheel in expected if in_wheel not in wheel_names]
    assert missing == [], f"source files missing from the wheel: {missing}"
    assert "lrhub/service/migrations/__init__.py" in wheel_names
    assert "lrhub/service/migrations/versions/__init__.py" in wheel_names
    if (wheel_source / "service" / "alembic.ini").exists():
        assert "lrhub/service/alembic.ini" in wheel_names


@pytest.mark.slow
def test_wheel_has_only_namespaced_packages(wheel_names: set[str]) -> None:
    top_level = {name.partition("/")[0] for name in wheel_names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"lrhub"}


@pytest.mark.slow
def test_wheel_requires_tensorflow_only_with_the_keras_extra(wheel_path: Path) -> None:
    with zipfile.ZipFile(wheel_path) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    requirements = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    tensorflow = [line for line in requirements if "tensorflow" in line]
    assert tensorflow, "the keras extra no longer requires tensorflow"
    assert all('extra == "keras"' in line for line in tensorflow), tensorflow
    fastapi = [line for line in requirements if line.startswith("Requires-Dist: fastapi")]
    assert fastapi and all('extra == "server"' in line for line in fastapi), fastapi
