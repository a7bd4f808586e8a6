"""The closest peer: Optuna's `trial.report` + `trial.should_prune` on its RDB storage.

Optuna answers the same question a central store answers ("given this metric at this step,
what now") in-process, against an SQLite file. lrhub answers it over HTTP with a durable write.
Both run 100-step trials/jobs of the same loss curve, in turns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import optuna

from bench.config import BenchConfig
from bench.latency import timed_job_run
from bench.servers import lrhub_server
from bench.stats import latency_summary, ratio
from bench.targets import SQLITE, Target
from bench.workload import EPOCHS_PER_JOB, epoch_metrics

# MedianPruner's default: it compares against completed trials once this many exist.
STARTUP_TRIALS = 5


def _val_loss(step: int) -> float:
    return epoch_metrics(step + 1)["val_loss"]


def optuna_study(path: Path) -> optuna.Study:
    """A study on an SQLite file, with enough completed trials for the pruner to judge."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{path}", pruner=optuna.pruners.MedianPruner(), direction="minimize"
    )
    for _ in range(STARTUP_TRIALS):
        trial = study.ask()
        for step in range(EPOCHS_PER_JOB):
            trial.report(_val_loss(step), step)
        study.tell(trial, _val_loss(EPOCHS_PER_JOB - 1))
    return study


def timed_trial(study: optuna.Study) -> list[float]:
    """One 100-step trial; the duration of each report + should_prune, in seconds."""
    trial = study.ask()
    durations = []
    for step in range(EPOCHS_PER_JOB):
        value = _val_loss(step)
        started = time.perf_counter()
        trial.report(value, step)
        trial.should_prune()
        durations.append(time.perf_counter() - started)
    study.tell(trial, _val_loss(EPOCHS_PER_JOB - 1))
    return durations


def run(config: BenchConfig) -> dict[str, Any]:
    """Per-step cost of Optuna in-process against lrhub's full HTTP decision (SQLite both)."""
    runs = config.scaled(quick=2, full=20)
    workdir = config.workdir / "optuna"
    workdir.mkdir(parents=True, exist_ok=True)
    study = optuna_study(workdir / "optuna.db")
    lrhub_samples: list[float] = []
    optuna_samples: list[float] = []
    with lrhub_server(workdir / "lrhub") as server, httpx.Client(base_url=server.url) as client:
        target = Target(SQLITE, server)
        timed_job_run(client, target, "optuna-warmup")
        timed_trial(study)
        for index in range(runs):
            lrhub_samples.extend(timed_job_run(client, target, f"optuna-peer-{index}"))
            optuna_samples.extend(timed_trial(study))
    lrhub = latency_summary(lrhub_samples)
    peer = latency_summary(optuna_samples)
    return {
        "steps_per_side": runs * EPOCHS_PER_JOB,
        "optuna_in_process": peer,
        "lrhub_http_sqlite": lrhub,
        "lrhub_over_optuna_p50": ratio(lrhub["p50_ms"], peer["p50_ms"]),
        "lrhub_over_optuna_p99": ratio(lrhub["p99_ms"], peer["p99_ms"]),
        "target_met": lrhub["p50_ms"] < peer["p50_ms"],
    }
