"""What an operator's settings make of the schedule's decision: override, pause, scale, stop.

The service answers this for every decision and the client's `on_error="local"` mode computes the
same while the service is unreachable, so the rules live here, once: `answer_epoch` is the whole
way from a job's spec, state and settings to the rate it is told.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .decisions import Decision, decide
from .errors import EvaluationError
from .specs import Spec


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
    momentum: float | None = None
    """The schedule's momentum (beta1): the operator's settings change the rate only."""
    step_momentums: list[float] | None = None


def fixed_rate(settings: OperatorSettings) -> float | None:
    """The rate the settings fix every step to, if any: the override, else the held rate while
    paused."""
    if settings.override is not None:
        return settings.override
    if settings.paused and settings.held_rate is not None:
        return settings.held_rate
    return None


def apply_operator_settings(decision: Decision, settings: OperatorSettings) -> Answer:
    """`override` if set, else the held rate while paused, else the schedule's rate x scale;
    a stopped job is told to stop. The reason keeps what the schedule said.

    Raises EvaluationError when a rate it answers is not finite (a huge rate x scale): the one
    finite-rate rule after the operator's transformations, so no caller answers or stores one.
    """
    steps = decision.step_learning_rates
    fixed = fixed_rate(settings)
    if settings.override is not None:
        reason = f"fixed rate {fixed:g} set by an operator (the schedule says: {decision.reason})"
    elif fixed is not None:
        reason = f"paused: holding {fixed:g} (the schedule says: {decision.reason})"
    if fixed is not None:
        rate, step_rates = fixed, [fixed] * len(steps) if steps is not None else None
    elif settings.scale == 1.0:
        rate, step_rates, reason = decision.learning_rate, steps, decision.reason
    else:
        rate = decision.learning_rate * settings.scale
        step_rates = [r * settings.scale for r in steps] if steps is not None else None
        reason = f"{decision.reason} (scaled x{settings.scale:g})"
    if not math.isfinite(rate) or (
        step_rates is not None and not all(map(math.isfinite, step_rates))
    ):
        raise EvaluationError(
            f"the rate is not a finite number after the operator's settings ({reason}); "
            "lower the job's scale or set an override"
        )
    stop = decision.stop
    if settings.stopped:
        stop, reason = True, f"job stopped by an operator; {reason}"
    return Answer(
        learning_rate=rate,
        step_learning_rates=step_rates,
        reason=reason,
        stop=stop,
        momentum=decision.momentum,
        step_momentums=decision.step_momentums,
    )


@dataclass(frozen=True)
class AnsweredEpoch:
    """One epoch of a job decided: the schedule's decision, the answer after the operator's
    settings, the clock origin it was decided with, and the rate a pause holds from now on."""

    decision: Decision
    answer: Answer
    clock_origin: int
    held_rate: float | None


def effective_clock_origin(clock_origin: int, epoch: int) -> int:
    """The clock origin `epoch` is decided with: before its origin a restarted schedule has no
    t < 0, so it starts at the decided epoch."""
    return min(clock_origin, epoch)


def answer_epoch(
    spec: Spec,
    state: Mapping[str, Any] | None,
    *,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int | None,
    clock_origin: int,
    settings: OperatorSettings,
) -> AnsweredEpoch:
    """Decide `epoch` with the schedule, then apply the operator's settings.

    A job paused before its first decision has no rate to hold yet: it holds the first rate it
    is answered. Raises the engine's `EvaluationError` when the spec gives no rate here.
    """
    origin = effective_clock_origin(clock_origin, epoch)
    decision = decide(
        spec,
        state,
        epoch=epoch,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
        clock_origin=origin,
    )
    answer = apply_operator_settings(decision, settings)
    held_rate = settings.held_rate
    if settings.paused and held_rate is None:
        held_rate = answer.learning_rate
    return AnsweredEpoch(decision=decision, answer=answer, clock_origin=origin, held_rate=held_rate)


@dataclass(frozen=True)
class StepRule:
    """What the operator's settings made of an epoch's per-step rates: every step `fixed`, or
    the schedule's rates x `scale`. With the decision's inputs it gives the step rates again,
    so they need not be stored or sent (`step_rates`)."""

    scale: float = 1.0
    fixed: float | None = None

    @classmethod
    def of(cls, settings: OperatorSettings) -> StepRule:
        """The rule `apply_operator_settings` applies to the step rates under `settings`."""
        return cls(scale=settings.scale, fixed=fixed_rate(settings))


def step_rates(
    spec: Spec,
    state_before: Mapping[str, Any] | None,
    *,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int,
    clock_origin: int,
    rule: StepRule,
) -> list[float]:
    """The per-step rates of an epoch answered with `answer_epoch`, from what it was decided
    with (the state before it, its metrics, the effective clock origin it answered) and the
    step rule of the settings then: the same floats, bit for bit, since the engine is pure.

    Raises the engine's `EvaluationError` when the spec gives no rate here.
    """
    decision = decide(
        spec,
        state_before,
        epoch=epoch,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
        clock_origin=clock_origin,
    )
    answer = apply_operator_settings(
        decision, OperatorSettings(scale=rule.scale, override=rule.fixed)
    )
    assert answer.step_learning_rates is not None
    return answer.step_learning_rates


def step_momentums(
    spec: Spec,
    state_before: Mapping[str, Any] | None,
    *,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int,
    clock_origin: int,
) -> list[float] | None:
    """The per-step momentums (beta1) of an epoch answered with `answer_epoch`, derived again
    like `step_rates` (the operator's settings change rates only); None where the spec
    schedules no momentum."""
    decision = decide(
        spec,
        state_before,
        epoch=epoch,
        metrics=metrics,
        steps_per_epoch=steps_per_epoch,
        clock_origin=clock_origin,
    )
    return decision.step_momentums
