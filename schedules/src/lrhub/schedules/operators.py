"""What an operator's settings make of the schedule's decision: override, pause, scale, stop.

The service answers this for every decision and the client's `on_error="local"` mode computes the
same while the service is unreachable, so the rule lives here, once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .decisions import Decision


@dataclass(frozen=True)
class OperatorSettings:
    """A job's operator-controlled settings (PATCH /v1/jobs/{id})."""

    scale: float = 1.0
    override: float | None = None
    paused: bool = False
    held_rate: float | None = None
    """The rate held while paused (the job's rate when it was paused)."""
    stopped: bool = False


@dataclass(frozen=True)
class Answer:
    """The rate a job is told to use: the schedule's decision after the operator's settings."""

    learning_rate: float
    step_learning_rates: list[float] | None
    reason: str
    stop: bool


def apply_operator_settings(decision: Decision, settings: OperatorSettings) -> Answer:
    """`override` if set, else the held rate while paused, else the schedule's rate x scale;
    a stopped job is told to stop. The reason keeps what the schedule said."""
    steps = decision.step_learning_rates
    fixed: float | None = None
    if settings.override is not None:
        fixed = settings.override
        reason = f"fixed rate {fixed:g} set by an operator (the schedule says: {decision.reason})"
    elif settings.paused and settings.held_rate is not None:
        fixed = settings.held_rate
        reason = f"paused: holding {fixed:g} (the schedule says: {decision.reason})"
    if fixed is not None:
        rate, step_rates = fixed, [fixed] * len(steps) if steps is not None else None
    elif settings.scale == 1.0:
        rate, step_rates, reason = decision.learning_rate, steps, decision.reason
    else:
        rate = decision.learning_rate * settings.scale
        step_rates = [r * settings.scale for r in steps] if steps is not None else None
        reason = f"{decision.reason} (scaled x{settings.scale:g})"
    stop = decision.stop
    if settings.stopped:
        stop, reason = True, f"job stopped by an operator; {reason}"
    return Answer(learning_rate=rate, step_learning_rates=step_rates, reason=reason, stop=stop)
