"""``decide``: the rate of one epoch of a job, from its spec, its state and the last metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import EvaluationError
from .evaluation import EvaluationContext, Tick, evaluate
from .specs import Spec, needs_steps_per_epoch


@dataclass(frozen=True)
class Decision:
    """The answer for one epoch."""

    learning_rate: float
    """Rate of the epoch (of its first step when per-step rates were asked for)."""
    step_learning_rates: list[float] | None
    """The epoch's k rates when steps_per_epoch=k was given."""
    state: dict[str, Any]
    """JSON-serializable; pass it to the next ``decide``."""
    reason: str
    stop: bool
    """True once reduce_on_plateau's stop_patience is exhausted."""
    reductions: int
    """Plateau reductions made by this decision (0 or 1)."""
    momentum: float | None = None
    """Momentum (Adam's beta1) of the epoch (of its first step), where the spec schedules it."""
    step_momentums: list[float] | None = None
    """The epoch's k momentums when steps_per_epoch=k was given and momentum is scheduled."""


def decide(
    spec: Spec,
    state: Mapping[str, Any] | None,
    *,
    epoch: int,
    metrics: Mapping[str, float] | None = None,
    steps_per_epoch: int | None = None,
    clock_origin: int = 0,
) -> Decision:
    """Decide the rate of ``epoch``; ``metrics`` were observed at the end of epoch - 1.

    Pure: the same arguments always give the same Decision, and no argument is mutated. A gap
    (epoch > last decided + 1) is decided from the state as it is. The schedule's t is
    ``epoch - clock_origin``. Raises EvaluationError when no rate can be given.
    """
    if epoch < 0:
        raise EvaluationError(f"epoch must be >= 0, got {epoch}")
    if epoch < clock_origin:
        raise EvaluationError(f"epoch {epoch} is before the clock origin {clock_origin}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise EvaluationError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if steps_per_epoch is None and needs_steps_per_epoch(spec):
        raise EvaluationError("this schedule counts steps (unit 'step'): give steps_per_epoch")
    t = epoch - clock_origin
    if steps_per_epoch is None:
        ticks = [Tick(t, None, 0)]
    else:
        ticks = [Tick(t, t * steps_per_epoch + i, i) for i in range(steps_per_epoch)]
    ctx = EvaluationContext(epoch, steps_per_epoch, _metric_values(metrics))
    evaluation = evaluate(spec, state or {}, ticks, ctx)
    for rate in evaluation.rates:
        if not (math.isfinite(rate) and rate >= 0):
            raise EvaluationError(f"epoch {epoch}: the rate {rate} is not a finite number >= 0")
    return Decision(
        learning_rate=evaluation.rates[0],
        step_learning_rates=evaluation.rates if steps_per_epoch is not None else None,
        state=evaluation.state,
        reason=evaluation.reason,
        stop=evaluation.stop,
        reductions=evaluation.reductions,
        momentum=evaluation.momentums[0] if evaluation.momentums else None,
        step_momentums=evaluation.momentums if steps_per_epoch is not None else None,
    )


def _metric_values(metrics: Mapping[str, float] | None) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EvaluationError(f"metric {name!r} must be a number, got {value!r}")
        values[name] = float(value)
    return values
