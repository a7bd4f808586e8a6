"""Run the benchmark suite, write the results as JSON and print them as Markdown tables.

python -m bench                 # everything, a few minutes
python -m bench --quick         # a short smoke run of everything
python -m bench --only latency --only scale
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.machine import REPOSITORY, describe_machine
from bench.postgres import configured_url, reachable
from bench.report import render_markdown

Benchmark = Callable[[BenchConfig], dict[str, Any]]

# Benchmark name -> module with a `run(config)`; imported only when selected, so a latency run
# never pays for TensorFlow or Optuna.
BENCHMARKS = {
    "drift": "bench.drift",
    "import_time": "bench.import_time",
    "isolation": "bench.isolation",
    "latency": "bench.latency",
    "optuna": "bench.optuna_peer",
    "throughput": "bench.throughput",
    "scale": "bench.scale",
    "training": "bench.training",
    "torch_training": "bench.torch_training",
    "step_trainers": "bench.step_trainers",
}
DEFAULT_RESULTS = REPOSITORY / "bench" / "results"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--postgres-url",
        default=configured_url(),
        help="PostgreSQL server where scratch databases are created and dropped "
        "(default $LRHUB_BENCH_POSTGRES_URL or the local server)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return parser.parse_args(argv)


def postgres_settings(arguments: argparse.Namespace) -> tuple[str | None, str | None]:
    """The PostgreSQL URL to use, or None and why not."""
    if arguments.no_postgres:
        return None, "--no-postgres"
    reason = reachable(arguments.postgres_url)
    return (None, reason) if reason else (arguments.postgres_url, None)


def run_benchmarks(names: Sequence[str], config: BenchConfig) -> dict[str, Any]:
    """Each benchmark's result; a failing one records its error and the others still run."""
    results: dict[str, Any] = {}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = dt.datetime.now(dt.UTC)
        try:
            benchmark: Benchmark = importlib.import_module(BENCHMARKS[name]).run
            results[name] = benchmark(config)
        except Exception as error:
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        results[name]["wall_seconds"] = round(seconds, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; exit status 1 if any of them failed."""
    arguments = parse_arguments(argv)
    postgres_url, postgres_skip_reason = postgres_settings(arguments)
    names = arguments.only or list(BENCHMARKS)
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="lrhub-bench-") as workdir:
        config = BenchConfig(
            quick=arguments.quick,
            workdir=Path(workdir),
            postgres_url=postgres_url,
        )
        results = run_benchmarks(names, config)
    report = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "quick": arguments.quick,
        "postgres": postgres_url or f"skipped: {postgres_skip_reason}",
        "machine": machine,
        "benchmarks": results,
    }
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = machine["date_utc"].replace(":", "").replace("+0000", "Z")
    path = arguments.results_dir / f"{stamp}{'-quick' if arguments.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(render_markdown(report))
    print(f"[bench] results written to {path}", file=sys.stderr)
    return 1 if any("error" in result for result in results.values()) else 0
