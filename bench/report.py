"""Render a results JSON (from `python -m bench`) as the Markdown tables of BENCHMARKS.md.

python -m bench.report bench/results/<file>.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats get 3 significant digits (whole numbers from 100 up)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_section(report: dict[str, Any]) -> str:
    machine = report["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    return "\n".join(
        [
            f"- command: `{report['command']}`",
            f"- date: {machine['date_utc']}, commit {machine['commit']}",
            f"- machine: {machine['cores']} cores ({machine['cpu_model']}), "
            f"{machine['memory_total']} memory (MemTotal), Linux {machine['kernel']}, "
            f"Python {machine['python']}",
            "- load average at start (1, 5, 15 min): "
            + ", ".join(f"{load:.2f}" for load in machine["load_average_at_start"]),
            f"- PostgreSQL: {report['postgres']}",
            f"- versions: {versions}",
        ]
    )


def latency_section(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            s["p50_ms"],
            s["p90_ms"],
            s["p99_ms"],
            s.get("p50_ratio", 1.0),
            s.get("p99_ratio", 1.0),
        ]
        for name, s in result["targets"].items()
    ]
    header = ["target", "p50 ms", "p90 ms", "p99 ms", "p50 / floor", "p99 / floor"]
    return f"{result['requests_per_target']} decisions per target.\n\n" + table(header, rows)


def throughput_section(result: dict[str, Any]) -> str:
    rows = [
        [
            r["workers"],
            r["jobs"],
            r["target"],
            r["per_second"],
            r["floor_ratio"],
            r.get("durable_floor_ratio", ""),
            r["one_worker_floor_ratio"],
            r["non_2xx"] + r["timeouts"] + r["read_errors"],
            r["p50_us"] / 1e3,
            r["p99_us"] / 1e3,
        ]
        for r in result["runs"]
    ]
    header = [
        "workers",
        "jobs",
        "target",
        "decisions/s",
        "/ floor (same workers)",
        "/ durable floor (same workers)",
        "/ floor (1 worker)",
        "errors",
        "p50 ms",
        "p99 ms",
    ]
    return f"{result['seconds_per_run']} s per run.\n\n" + table(header, rows)


def optuna_section(result: dict[str, Any]) -> str:
    peer, lrhub = result["optuna_in_process"], result["lrhub_http_sqlite"]
    rows = [
        ["Optuna report + should_prune (in-process, SQLite)", peer["p50_ms"], peer["p99_ms"]],
        ["lrhub decision (HTTP, SQLite)", lrhub["p50_ms"], lrhub["p99_ms"]],
        ["lrhub / Optuna", result["lrhub_over_optuna_p50"], result["lrhub_over_optuna_p99"]],
    ]
    return table(["per step", "p50 ms", "p99 ms"], rows)


def training_section(result: dict[str, Any]) -> str:
    rows = [
        [
            mode,
            result[key]["median_local_seconds"],
            result[key]["median_remote_seconds"],
            result[key]["median_ratio"],
            _percent(result[key]["median_callback_share"]),
            result[key].get("median_floor_ratio", "-"),
            _percent(result[key].get("median_floor_callback_share")),
            result[key].get("median_ratio_over_floor", "-"),
            result[key].get("paced_floor_bound", "-"),
            result[key]["target"],
            result[key]["target_met"],
        ]
        for mode, key in (
            ("epoch (vs LearningRateScheduler)", "epoch_mode"),
            ("per step (vs LearningRateSchedule)", "step_mode"),
        )
    ]
    header = [
        "mode",
        "local s (median)",
        "remote s (median)",
        "median pair ratio",
        "callback's extra time / fit",
        "durable floor fit / local",
        "its callback's extra time / fit",
        "remote / durable floor fit",
        "paced floor bound",
        "target",
        "met",
    ]
    measured = (
        f"; round trips, back to back / one per local epoch ({result['pace_ms']} ms apart): "
        f"the SQLite durable floor {result['floor_round_trip_ms']} / "
        f"{result['paced_floor_round_trip_ms']} ms, lrhub's decision through the client "
        f"{result['decision_ms']} / {result['paced_decision_ms']} ms; inside the epoch-mode "
        f"fit, {result['epoch_round_trip_in_fit_ms']} ms"
        if "paced_decision_ms" in result
        else ""
    )
    return f"{result['pairs']} pairs, {result['epochs']} epochs{measured}.\n\n" + table(
        header, rows
    )


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def torch_training_section(result: dict[str, Any]) -> str:
    rows = [
        [
            mode,
            result[key]["median_local_seconds"],
            result[key]["median_remote_seconds"],
            result[key]["median_ratio"],
            f"{100 * result[key]['median_scheduler_share']:.1f}%",
            result[key]["target"],
            result[key]["target_met"],
        ]
        for mode, key in (
            ("epoch (vs StepLR)", "epoch_mode"), ("per step (vs OneCycleLR)", "step_mode"),
        )
    ]  # fmt: skip
    header = [
        "mode", "local s (median)", "remote s (median)", "median pair ratio",
        "scheduler's extra time / training", "target", "met",
    ]  # fmt: skip
    return (
        f"{result['pairs']} pairs, {result['epochs']} epochs of {result['batches_per_epoch']} "
        "batches.\n\n" + table(header, rows)
    )


def step_trainers_section(result: dict[str, Any]) -> str:
    rows = [
        [size, framework, every.removeprefix("every_"), figures["median_local_seconds"],
         figures["median_remote_seconds"], figures["median_ratio"], figures["floor_bound"]]
        for size, framework, every, figures in _step_trainer_rows(result)
    ]  # fmt: skip
    header = ["model", "framework", "steps per interval", "local s (median)",
              "remote s (median)", "median pair ratio", "floor bound"]  # fmt: skip
    return (
        f"{result['pairs']} pairs, {result['steps']} optimizer steps; the SQLite durable floor's "
        f"round trip {result['floor_round_trip_ms']} ms.\n\n" + table(header, rows)
    )


def _step_trainer_rows(result: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(model, framework, `every_k`, figures) of every measured training, in run order."""
    return [
        (size, framework, every, figures)
        for size in result["models"]
        for framework, intervals in result[size].items()
        for every, figures in intervals.items()
    ]


def scale_section(result: dict[str, Any]) -> str:
    rows = [
        [
            r["database"],
            r["jobs"],
            r["history_rows"],
            r["decision"]["p50_ms"],
            r["decision"]["p99_ms"],
            r["floor"]["p50_ms"],
            r["decision_p50_over_floor"],
            r["decision_p50_vs_smallest"],
            r["list_page"]["p50_ms"],
            r["first_list_page_ms"],
            r["last_list_page_ms"],
            r["history_page"]["p50_ms"],
            r["rss_mib"],
            r["seed_seconds"],
        ]
        for r in result["runs"]
    ]
    header = [
        "database",
        "jobs",
        "history rows",
        "decision p50 ms",
        "decision p99 ms",
        "floor p50 ms",
        "p50 / floor",
        "(p50 / floor) / smallest's",
        "list page p50 ms",
        "first list page ms",
        "last list page ms",
        "history page p50 ms",
        "server RSS MiB",
        "seed s",
    ]
    pages = (
        f"Full pages only: jobs {result['list_page_size']} a page, histories "
        f"{result['history_page_size']} a page.\n\n"
    )
    return pages + table(header, rows)


def import_section(result: dict[str, Any]) -> str:
    rows = [[name, value] for name, value in result["median_wall_ms"].items()]
    return "\n".join(
        [
            table(["fresh interpreter importing", "median wall ms"], rows),
            "",
            f"`import lrhub.client` costs {result['client_import_ms']} ms over bare Python; "
            f"`import httpx` alone {result['httpx_import_ms']} ms (ratio "
            f"{result['client_over_httpx']}). Heavy modules loaded: "
            f"{result['heavy_modules_loaded'] or 'none'}.",
        ]
    )


def isolation_section(result: dict[str, Any]) -> str:
    rows = [
        [
            name,
            r["light_alone"]["p50_ms"],
            r["light_alone"]["p99_ms"],
            r["light_during_heavy"]["p50_ms"],
            r["light_during_heavy"]["p99_ms"],
            r["light_during_heavy"]["max_ms"],
            r["heavy_requests"],
            r["heavy_seconds_p50"] or 0.0,
        ]
        for name, r in [
            *result["databases"].items(),
            *(
                (f"{name}, evaluated in the server process", r)
                for name, r in result.get("in_process", {}).items()
            ),
        ]
    ]
    header = [
        "database",
        "light p50 ms (alone)",
        "light p99 ms (alone)",
        "light p50 ms (heavy running)",
        "light p99 ms (heavy running)",
        "light max ms (heavy running)",
        "heavy requests",
        "heavy s each (p50)",
    ]
    return (
        f"Heavy requests: {result['heavy_steps_per_epoch']:,} steps per epoch of a 316-node "
        "formula (the default evaluation budget), evaluated in the server's evaluation pool; "
        "the rows evaluated in the server process are the same server with "
        "LRHUB_EVALUATION_PROCESSES=0.\n\n" + table(header, rows)
    )


def drift_section(result: dict[str, Any]) -> str:
    rows = [
        [
            f"{database}, {label}",
            r["windows"][window]["decision"]["p50_ms"],
            r["windows"][window]["decision"]["p99_ms"],
            r["windows"][window]["floor"]["p50_ms"],
            r["windows"][window]["p50_over_floor"],
            ratio,
        ]
        for database, r in result["databases"].items()
        for label, window, ratio in (
            (f"epochs 10-{9 + result['window']}", "early", 1.0),
            (f"epochs {r['late_epoch'] + 10:,}-{r['late_epoch'] + 9 + result['window']:,}",
             "late", r["late_over_early"]),
            (f"a new job's epochs 10-{9 + result['window']} after it", "new_job",
             r["new_job_over_early"]),
        )
    ]  # fmt: skip
    header = [
        "job, window", "decision p50 ms", "decision p99 ms", "durable floor p50 ms",
        "p50 / floor", "(p50 / floor) / epoch 10's",
    ]  # fmt: skip
    return (
        "One job's decisions in two windows of its life, then a new job's; each decision "
        "followed by a request to the database's durable floor.\n\n" + table(header, rows)
    )


SECTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "drift": ("Drift over a job's life", drift_section),
    "isolation": ("One job's costliest request, another job's decisions", isolation_section),
    "latency": ("Decision latency", latency_section),
    "throughput": ("Throughput", throughput_section),
    "optuna": ("Optuna, the closest peer", optuna_section),
    "training": ("Training overhead", training_section),
    "torch_training": ("PyTorch training overhead", torch_training_section),
    "step_trainers": ("Per-step schedules inside trainers", step_trainers_section),
    "scale": ("Scale", scale_section),
    "import_time": ("Client import time", import_section),
}


# A growth factor under this counts as flat: the machine's own noise is of that order.
FLAT = 1.5
Row = list[object]


def latency_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"decision latency p50, {name}", f"{t['ratio']:.2f}x {t['baseline']}",
         f"<= {t['goal']}x", s["p50_target_met"]]
        for name, s in result["targets"].items()
        if (t := s.get("p50_target")) is not None
    ]  # fmt: skip


def throughput_targets(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name in sorted({r["target"] for r in result["runs"] if "durable_floor_ratio" in r}):
        ratios = [
            r["durable_floor_ratio"]
            for r in result["runs"]
            if r["target"] == name and r["workers"] == 1
        ]
        goal = result["half_floor_target"]
        rows.append([f"decisions/s, 1 worker, 1-256 jobs, {name}",
                     f"{min(ratios):.2f}-{max(ratios):.2f}x its durable floor", f">= {goal}x",
                     min(ratios) >= goal])  # fmt: skip
    return rows


def optuna_targets(result: dict[str, Any]) -> list[Row]:
    return [["lrhub HTTP decision vs Optuna in-process, p50",
             f"{result['lrhub_over_optuna_p50']:.2f}x", "< 1x", result["target_met"]]]  # fmt: skip


def training_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"fit time, {label}" + (f" (durable floor fit {mode['median_floor_ratio']:.3f}x)"
                                 if "median_floor_ratio" in mode else ""),
         f"{mode['median_ratio']:.3f}x (callback: +{100 * mode['median_callback_share']:.1f}%)",
         f"<= {mode['target']}x", mode["target_met"]]
        for label, mode in (("epoch mode", result["epoch_mode"]), ("per step", result["step_mode"]))
    ]  # fmt: skip


def torch_training_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"torch training time, {label}",
         f"{mode['median_ratio']:.3f}x (scheduler: +{100 * mode['median_scheduler_share']:.1f}%)",
         f"<= {mode['target']}x", mode["target_met"]]
        for label, mode in (("epoch mode", result["epoch_mode"]), ("per step", result["step_mode"]))
    ]  # fmt: skip


def step_trainers_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"{framework} per-step training time, {size} model, 100 steps per interval "
         f"(floor bound {figures['floor_bound']:.3f}x)", f"{figures['median_ratio']:.3f}x",
         f"<= {result['target_at_100']}x", figures["target_met"]]
        for size, framework, every, figures in _step_trainer_rows(result)
        if every == "every_100"
    ]  # fmt: skip


def scale_targets(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name in sorted({r["database"] for r in result["runs"]}):
        runs = [r for r in result["runs"] if r["database"] == name]
        growth = max(r["decision_p50_vs_smallest"] for r in runs)
        memory = runs[-1]["rss_mib"] / runs[0]["rss_mib"]
        rows.append([f"decision p50 / floor and RSS, {runs[0]['jobs']} -> {runs[-1]['jobs']} "
                     f"jobs, {name}", f"at most {growth:.2f}x; RSS {memory:.2f}x",
                     f"flat (<= {FLAT}x)", growth <= FLAT and memory <= FLAT])  # fmt: skip
    return rows


def import_targets(result: dict[str, Any]) -> list[Row]:
    return [["`import lrhub.client` loads tensorflow", str(result["tensorflow_imported"]).lower(),
             "false", not result["tensorflow_imported"]]]  # fmt: skip


def isolation_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"another job's decision p99 during the costliest request, {name}",
         f"{r['light_during_heavy']['p99_ms']:.1f} ms", f"<= {result['light_target_ms']:g} ms",
         r["target_met"]]
        for name, r in result["databases"].items()
    ]  # fmt: skip


def drift_targets(result: dict[str, Any]) -> list[Row]:
    return [
        [f"decision p50 / floor, epoch {r['late_epoch']:,} over epoch 10, {name}",
         f"{r['late_over_early']:.2f}x", f"<= {result['target']}x",
         r["late_over_early"] <= result["target"]]
        for name, r in result["databases"].items()
    ]  # fmt: skip


TARGETS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "drift": drift_targets,
    "isolation": isolation_targets,
    "latency": latency_targets,
    "throughput": throughput_targets,
    "optuna": optuna_targets,
    "training": training_targets,
    "torch_training": torch_training_targets,
    "step_trainers": step_trainers_targets,
    "scale": scale_targets,
    "import_time": import_targets,
}


def targets_section(benchmarks: dict[str, Any]) -> str:
    """One row per target of the issue, for the benchmarks that ran."""
    rows = [
        row
        for name, result in benchmarks.items()
        if "error" not in result and "skipped" not in result
        for row in TARGETS[name](result)
    ]
    marked = [[*row[:-1], "yes" if row[-1] else "**no**"] for row in rows]
    return table(["target", "measured", "goal", "met"], marked)


def render_markdown(report: dict[str, Any]) -> str:
    """Every benchmark of `report` as a Markdown section; failures and skips say so."""
    parts = ["## Run", machine_section(report)]
    parts += ["## Targets at a glance", targets_section(report["benchmarks"])]
    for name, result in report["benchmarks"].items():
        title, render = SECTIONS[name]
        if "error" in result:
            body = f"FAILED: {result['error']}"
        elif "skipped" in result:
            body = f"skipped: {result['skipped']}"
        else:
            body = render(result)
        parts += [f"## {title}", body]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render_markdown(json.loads(Path(sys.argv[1]).read_text())))
