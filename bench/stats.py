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
    floor: Callable[[int], TimedRun] | None = None,
) -> dict[str, Any]:
    """`pairs` (local, remote) runs, each given its pair's index, in alternating order after one
    warm-up pair (index -1, not recorded), so drift on a shared machine hits both sides alike.
    With `floor`, each round runs a third side (what any remote service must cost, measured the
    same way) and the three take turns in rotated order.

    The figures: every run's seconds and the medians, the median of the pairs' remote/local
    ratios, and the median of the remote side's extra time inside the code compared over the
    local run's length (`median_{inside}_share`: the part of the overhead measured within one
    run, which the noise between runs does not touch). With `floor`, also the medians of the
    rounds' floor/local (`median_floor_ratio`) and remote/floor (`median_ratio_over_floor`),
    and the floor side's extra time inside (`median_floor_{inside}_share`).
    """
    sides = {"local": local, "remote": remote} | ({"floor": floor} if floor else {})
    names = list(sides)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    inside_seconds: dict[str, list[float]] = {name: [] for name in names}
    rates: dict[str, float] = {}
    for index in range(-1, pairs):
        turn = index % len(names)
        for name in names[turn:] + names[:turn]:
            result = sides[name](index)
            rates[name] = result.final_rate
            if index >= 0:
                seconds[name].append(result.seconds)
                inside_seconds[name].append(result.inside_seconds)

    def median_ratio(numerator: str, denominator: str) -> float:
        rounds = zip(seconds[numerator], seconds[denominator], strict=True)
        return round(statistics.median([n / d for n, d in rounds]), 4)

    def median_share(name: str) -> float:
        """The median of `name`'s extra time inside the code over the local run's length."""
        rounds = zip(inside_seconds[name], inside_seconds["local"], seconds["local"], strict=True)
        return round(statistics.median([(mine - local) / wall for mine, local, wall in rounds]), 4)

    figures: dict[str, Any] = {}
    for name in names:
        figures[f"{name}_seconds"] = seconds[name]
        figures[f"{name}_{inside}_seconds"] = inside_seconds[name]
    for name in names:
        figures[f"median_{name}_seconds"] = round(statistics.median(seconds[name]), 3)
    figures["median_ratio"] = median_ratio("remote", "local")
    if floor:
        figures["median_floor_ratio"] = median_ratio("floor", "local")
        figures["median_ratio_over_floor"] = median_ratio("remote", "floor")
    figures[f"median_{inside}_share"] = median_share("remote")
    if floor:
        figures[f"median_floor_{inside}_share"] = median_share("floor")
    figures["final_learning_rates"] = rates
    return figures
