"""Percentiles, medians and ratios over timing samples (seconds in, milliseconds out)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (0..1) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean of request durations, in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": percentile(seconds, 0.50) * 1e3,
        "p90_ms": percentile(seconds, 0.90) * 1e3,
        "p99_ms": percentile(seconds, 0.99) * 1e3,
        "mean_ms": statistics.fmean(seconds) * 1e3,
    }


def ratio(value: float, baseline: float) -> float:
    """value / baseline, rounded for reports."""
    return round(value / baseline, 3)


@dataclass(frozen=True)
class TimedRun:
    """One timed training: its whole length, the part spent inside the code compared (a
    callback, a scheduler), and the learning rate it ended with."""

    seconds: float
    inside_seconds: float
    final_rate: float


def paired_runs(
    local: Callable[[int], TimedRun],
    remote: Callable[[int], TimedRun],
    pairs: int,
    *,
    inside: str,
) -> dict[str, Any]:
    """`pairs` (local, remote) runs, each given its pair's index, in alternating order after one
    warm-up pair (index -1, not recorded), so drift on a shared machine hits both sides alike.

    The figures: every run's seconds and the medians, the median of the pairs' remote/local
    ratios, and the median of the remote side's extra time inside the code compared over the
    local run's length (`median_{inside}_share`: the part of the overhead measured within one
    run, which the noise between runs does not touch).
    """
    seconds: dict[str, list[float]] = {"local": [], "remote": []}
    inside_seconds: dict[str, list[float]] = {"local": [], "remote": []}
    rates: dict[str, float] = {}
    for index in range(-1, pairs):
        order = [("local", local), ("remote", remote)]
        for name, timed in order if index % 2 == 0 else reversed(order):
            result = timed(index)
            rates[name] = result.final_rate
            if index >= 0:
                seconds[name].append(result.seconds)
                inside_seconds[name].append(result.inside_seconds)
    ratios = [r / loc for r, loc in zip(seconds["remote"], seconds["local"], strict=True)]
    shares = [
        (remote_inside - local_inside) / wall
        for remote_inside, local_inside, wall in zip(
            inside_seconds["remote"], inside_seconds["local"], seconds["local"], strict=True
        )
    ]
    return {
        "local_seconds": seconds["local"],
        "remote_seconds": seconds["remote"],
        f"local_{inside}_seconds": inside_seconds["local"],
        f"remote_{inside}_seconds": inside_seconds["remote"],
        "median_local_seconds": round(statistics.median(seconds["local"]), 3),
        "median_remote_seconds": round(statistics.median(seconds["remote"]), 3),
        "median_ratio": round(statistics.median(ratios), 4),
        f"median_{inside}_share": round(statistics.median(shares), 4),
        "final_learning_rates": rates,
    }
