"""``preview``: a schedule's curve over some epochs, without storing anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .decisions import decide
from .specs import Spec


@dataclass(frozen=True)
class Preview:
    """Rates of epochs 0..epochs-1 (and their per-step rates when asked for)."""

    learning_rates: list[float]
    step_learning_rates: list[list[float]] | None
    reasons: list[str]
    reductions: list[int]
    """The plateau reductions each epoch's decision made."""
    stop_epoch: int | None
    """The first epoch whose decision said stop, if any."""
    momentums: list[float | None] | None = None
    """Each epoch's momentum (beta1), where the spec schedules it; None if it never does."""
    step_momentums: list[list[float] | None] | None = None
    """Each epoch's per-step momentums, when per-step rates were asked for."""


def preview(
    spec: Spec,
    epochs: int,
    *,
    steps_per_epoch: int | None = None,
    metrics: Sequence[Mapping[str, float]] | None = None,
) -> Preview:
    """Decide epochs 0..epochs-1 in a row; ``metrics[i]`` is observed at the end of epoch i."""
    state: dict[str, Any] = {}
    rates: list[float] = []
    step_rates: list[list[float]] = []
    reasons: list[str] = []
    reductions: list[int] = []
    stop_epoch: int | None = None
    momentums: list[float | None] = []
    step_momentums: list[list[float] | None] = []
    observed = list(metrics or [])
    for epoch in range(epochs):
        previous = observed[epoch - 1] if 0 < epoch <= len(observed) else None
        decision = decide(
            spec, state, epoch=epoch, metrics=previous, steps_per_epoch=steps_per_epoch
        )
        state = decision.state
        rates.append(decision.learning_rate)
        step_rates.append(decision.step_learning_rates or [])
        reasons.append(decision.reason)
        reductions.append(decision.reductions)
        momentums.append(decision.momentum)
        step_momentums.append(decision.step_momentums)
        if decision.stop and stop_epoch is None:
            stop_epoch = epoch
    return Preview(
        learning_rates=rates,
        step_learning_rates=step_rates if steps_per_epoch is not None else None,
        reasons=reasons,
        reductions=reductions,
        stop_epoch=stop_epoch,
        momentums=momentums if any(m is not None for m in momentums) else None,
        step_momentums=step_momentums
        if steps_per_epoch is not None and any(step_momentums)
        else None,
    )
