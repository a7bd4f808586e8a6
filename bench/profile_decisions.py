"""Where a decision's time goes: py-spy samples of lrhub and of the floor, by category.

    python -m bench.profile_decisions [--database postgresql] [--jobs 10]

Attaches `py-spy record` (pip install py-spy) to a one-worker server while it decides 100-epoch
jobs over keep-alive HTTP, then attributes each sample to the innermost frame's category
(database driver, SQLAlchemy, pydantic, ...) and prints the sampled CPU milliseconds per
request for lrhub, the floor and their difference: what lrhub's extra latency is made of.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from bench.latency import timed_job_run
from bench.postgres import configured_url, scratch_postgres
from bench.report import table
from bench.servers import floor_server, lrhub_server
from bench.targets import DURABLE_FLOOR_OF, POSTGRESQL, SQLITE, Target, sample_decision
from bench.workload import EPOCHS_PER_JOB

SAMPLES_PER_SECOND = 1000
TOP_FUNCTIONS = 15
# py-spy names a frame's file relative to its sys.path entry: lrhub/service/..., lrhub/schedules/...
LRHUB_PACKAGES = {
    "lrhub/schedules/": "lrhub engine (lrhub.schedules)",
    "lrhub/service/": "lrhub service code (lrhub.service)",
}
# A sample's category comes from its innermost frame, "function (path:line)", by the path's
# first component; the SQLAlchemy functions that wrap a DBAPI call count as the driver's time.
DRIVER = "database driver (C calls: sqlite3 / psycopg)"
IDLE = "idle thread-pool workers (not counted)"
DRIVER_CALLS = ("do_execute", "do_executemany", "do_commit", "do_begin", "do_rollback")
IDLE_CALLS = ("Condition.wait", "Queue.get")
CATEGORIES = {
    "sqlite3": DRIVER,
    "psycopg": DRIVER,
    "sqlalchemy": "SQLAlchemy",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "json": "JSON",
    "fastapi": "FastAPI / Starlette",
    "starlette": "FastAPI / Starlette",
    "anyio": "thread-pool hand-off (anyio, threading)",
    "threading.py": "thread-pool hand-off (anyio, threading)",
    "concurrent": "thread-pool hand-off (anyio, threading)",
    "uvicorn": "uvicorn / event loop (incl. uvloop's C code)",
    "asyncio": "uvicorn / event loop (incl. uvloop's C code)",
    "httptools": "uvicorn / event loop (incl. uvloop's C code)",
    "logging": "logging",
    "prometheus_client": "Prometheus metrics",
}


def py_spy() -> str | None:
    """py-spy on PATH or next to this interpreter (a virtualenv's bin/)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def _in_package(path: str, package: str) -> bool:
    # Relative to sys.path when installed; absolute (…/src/lrhub/...) in an editable install.
    return path.startswith(package) or f"/{package}" in path


def category(leaf: str) -> str:
    """The category of a sample from its innermost frame."""
    function, _, location = leaf.rpartition(" (")
    if function.endswith(IDLE_CALLS):
        return IDLE
    if function.split(".")[-1] in DRIVER_CALLS:
        return DRIVER
    path = location.split(":")[0]
    for package, name in LRHUB_PACKAGES.items():
        if _in_package(path, package):
            return name
    return CATEGORIES.get(path.split("/")[0], "other")


def active_samples(raw_profile: Path) -> Iterator[tuple[list[str], int]]:
    """(frames outermost first, sample count) of py-spy's collapsed stacks, idle ones left out."""
    for line in raw_profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if stack and category(frames[-1]) != IDLE:
            yield frames, int(count)


def sampled_ms_by_category(raw_profile: Path, requests: int) -> dict[str, float]:
    """Sampled CPU ms per request for each category (self time of the innermost frame)."""
    totals: collections.Counter[str] = collections.Counter()
    for frames, count in active_samples(raw_profile):
        totals[category(frames[-1])] += count
    scale = 1e3 / SAMPLES_PER_SECOND / requests
    return {name: samples * scale for name, samples in totals.items()}


def inclusive_ms_by_lrhub_function(raw_profile: Path, requests: int) -> dict[str, float]:
    """Sampled CPU ms per request spent inside each lrhub function, callees included."""
    totals: collections.Counter[str] = collections.Counter()
    for frames, count in active_samples(raw_profile):
        functions = {
            frame.rsplit(":", 1)[0] + ")"  # one entry per function, whatever the line
            for frame in frames
            if any(_in_package(frame.rpartition(" (")[2], p) for p in LRHUB_PACKAGES)
        }
        for function in functions:
            totals[function] += count
    scale = 1e3 / SAMPLES_PER_SECOND / requests
    return {name: samples * scale for name, samples in totals.items()}


def profiled_run(target: Target, jobs: int, output: Path, gil_only: bool) -> None:
    """Decide `jobs` jobs of 100 epochs on `target` while py-spy samples its process.

    `gil_only` samples only the thread holding the GIL (Python CPU time); otherwise every
    thread py-spy sees running, which also catches C code that released the GIL (SQLite's
    own work, socket writes) but counts a thread waiting for the GIL as running.
    """
    spy_path = py_spy()
    assert spy_path is not None
    with httpx.Client(base_url=target.server.url, timeout=30) as client:
        timed_job_run(client, target, "profile-warmup")
        command = [
            spy_path, "record", "--pid", str(target.server.process.pid), "--format", "raw",
            "--rate", str(SAMPLES_PER_SECOND), "--output", str(output), "--nonblocking",
        ]  # fmt: skip
        if gil_only:
            command.append("--gil")
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for job in range(jobs):
                timed_job_run(client, target, f"profile-{job}")
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on interrupt
            spy.wait(timeout=60)


def compare(
    workdir: Path,
    database_url: str | None,
    floor_url: str,
    jobs: int,
    name: str,
    gil_only: bool,
) -> str:
    """Profile lrhub then its durable floor (on `floor_url`, a database of the same kind):
    Markdown tables of CPU ms per request by category, and inside lrhub's own functions."""
    requests = jobs * EPOCHS_PER_JOB
    with lrhub_server(workdir / "lrhub", database_url) as server:
        profiled_run(Target(name, server), jobs, workdir / "lrhub.txt", gil_only)
        template = sample_decision(server.url)
    floor_dir = workdir / "floor"
    with floor_server(floor_dir, template, threadpool=True, database_url=floor_url) as server:
        durable = Target(DURABLE_FLOOR_OF[name], server)
        profiled_run(durable, jobs, workdir / "floor.txt", gil_only)
    lrhub = sampled_ms_by_category(workdir / "lrhub.txt", requests)
    floor = sampled_ms_by_category(workdir / "floor.txt", requests)
    names = sorted(set(lrhub) | set(floor), key=lambda n: -(lrhub.get(n, 0) - floor.get(n, 0)))
    extra_total = sum(lrhub.values()) - sum(floor.values())
    rows = [
        [n, lrhub.get(n, 0.0), floor.get(n, 0.0), lrhub.get(n, 0.0) - floor.get(n, 0.0),
         f"{100 * (lrhub.get(n, 0.0) - floor.get(n, 0.0)) / extra_total:.0f}%"]
        for n in names
    ]  # fmt: skip
    rows.append(["total", sum(lrhub.values()), sum(floor.values()), extra_total, "100%"])
    header = ["category", f"lrhub ({name}) ms", "durable floor ms", "extra ms", "share of extra"]
    inclusive = inclusive_ms_by_lrhub_function(workdir / "lrhub.txt", requests)
    top = sorted(inclusive.items(), key=lambda item: -item[1])[:TOP_FUNCTIONS]
    return "\n\n".join([
        table(header, rows),
        table(["lrhub function (callees included)", "ms per request"], top),
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Print the category table for the chosen database."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_decisions", description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=10, help="100-epoch jobs to decide")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every running thread, not only the GIL holder",
    )
    arguments = parser.parse_args(argv)
    if py_spy() is None:
        parser.error("py-spy not found: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="lrhub-profile-") as directory:
        workdir = Path(directory)
        gil_only = not arguments.all_threads
        if arguments.database == "sqlite":
            floor_url = f"sqlite:///{workdir / 'floor-durable.db'}"
            print(compare(workdir, None, floor_url, arguments.jobs, SQLITE, gil_only))
        else:
            with (
                scratch_postgres(configured_url()) as url,
                scratch_postgres(configured_url()) as floor_url,
            ):
                print(compare(workdir, url, floor_url, arguments.jobs, POSTGRESQL, gil_only))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
