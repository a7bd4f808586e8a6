"""What an operator's settings make of the schedule's decision: override, pause, scale, stop.

The service answers this for every decision and the client's `on_error="local"` mode computes the
same while the service is unreachable, so the rules live here, once: `answer_epoch` is the whole
way from a job's spec, state and settings to the rate it is told.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from .decisions import Decision, decide
from .errors import EvaluationError
from .libraries import wsd_decay
from .specs import Spec


@dataclass(frozen=True)
class Cooldown:
    """A decay an operator started (the warmup-stable-decay recipe's late decision): from the
    rate the job had at `start`, down to `min_learning_rate` over `length` steps or epochs with
    the shape of Transformers' WSD decay, then held."""

    length: int
    unit: Literal["step", "epoch"]
    shape: Literal["linear", "cosine", "1-sqrt"]
    min_learning_rate: float = 0.0
    start: int | None = None
    """The global step (or epoch) it starts at: fixed by the job's first decision after it was
    given, with `start_rate` the rate the job would have had then."""
    start_rate: float | None = None
    reached: int | None = None
    """The last step (or epoch) a decision answered under it."""
    replaces: Cooldown | None = None
    """A started cooldown this one replaced before starting: it starts from that one's rate
    (so a shorter or longer decay given midway continues from the rate in force)."""

    def rate_at(self, position: int) -> float:
        """Transformers' WSD decay from `start`: min + (start_rate - min) * decay(progress).
        A position before `start` (a rewound job) has the start rate."""
        assert self.start is not None and self.start_rate is not None, "not started yet"
        if position >= self.start + self.length:
            return self.min_learning_rate
        progress = max(0.0, float(position - self.start) / float(max(1, self.length)))
        low = self.min_learning_rate
        return low + (self.start_rate - low) * wsd_decay(self.shape, progress)

    @property
    def finished(self) -> bool:
        """True once a decision answered its last decaying step (a cancel then changes
        nothing: the job holds `min_learning_rate`)."""
        return (
            self.start is not None
            and self.reached is not None
            and self.reached + 1 >= self.start + self.length
        )

    def as_document(self) -> dict[str, Any]:
        """The cooldown as JSON (how the service stores it, and answers it)."""
        document: dict[str, Any] = {
            "length": self.length,
            "unit": self.unit,
            "shape": self.shape,
            "min_learning_rate": self.min_learning_rate,
            "start": self.start,
            "start_rate": self.start_rate,
            "reached": self.reached,
        }
        if self.replaces is not None:
            document["replaces"] = self.replaces.as_document()
        return document

    @classmethod
    def of_document(cls, document: Mapping[str, Any]) -> Cooldown:
        """The cooldown `as_document` wrote."""
        replaces = document.get("replaces")
        return cls(
            length=int(document["length"]),
            unit=document["unit"],
            shape=document["shape"],
            min_learning_rate=float(document["min_learning_rate"]),
            start=document.get("start"),
            start_rate=document.get("start_rate"),
            reached=document.get("reached"),
            replaces=cls.of_document(replaces) if replaces is not None else None,
        )


@dataclass(frozen=True)
class OperatorSettings:
    """A job's operator-controlled settings (PATCH /v1/jobs/{id})."""

    scale: float = 1.0
    override: float | None = None
    paused: bool = False
    held_rate: float | None = None
    """The rate held while paused (the job's rate when it was paused)."""
    stopped: bool = False
    cooldown: Cooldown | None = None
    """A decay started on demand; it replaces the schedule's rate x scale (override and pause
    still win)."""


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
    cooldown: Cooldown | None = None
    """The settings' cooldown, started (its `start` fixed) by this decision at the latest."""


def apply_cooldown(
    answer: Answer, cooldown: Cooldown, *, epoch: int, steps_per_epoch: int | None
) -> tuple[Answer, Cooldown]:
    """The answer with the cooldown's rates in place of the schedule's; a cooldown not started
    yet starts now, from the rate the job would have had (the answer's first rate).

    Raises EvaluationError for a cooldown in steps without steps_per_epoch.
    """
    if cooldown.unit == "step":
        if steps_per_epoch is None:
            raise EvaluationError("the cooldown counts steps: give steps_per_epoch")
        positions = [epoch * steps_per_epoch + index for index in range(steps_per_epoch)]
    else:
        positions = [epoch] * (steps_per_epoch or 1)
    if cooldown.start is None:
        start_rate = answer.learning_rate
        if cooldown.replaces is not None and cooldown.replaces.start is not None:
            start_rate = cooldown.replaces.rate_at(positions[0])
        cooldown = replace(cooldown, start=positions[0], start_rate=start_rate, replaces=None)
    cooldown = replace(cooldown, reached=positions[-1])
    rates = [cooldown.rate_at(position) for position in positions]
    assert cooldown.start is not None
    done = min(positions[0] - cooldown.start, cooldown.length)
    reason = (
        f"cooldown ({cooldown.shape}) {done}/{cooldown.length} {cooldown.unit}s: "
        f"{rates[0]:.6g} (the schedule says: {answer.reason})"
    )
    cooled = replace(
        answer,
        learning_rate=rates[0],
        step_learning_rates=rates if answer.step_learning_rates is not None else None,
        reason=reason,
    )
    return cooled, cooldown


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
    cooldown = settings.cooldown
    if cooldown is not None and fixed_rate(settings) is None:
        answer, cooldown = apply_cooldown(
            answer, cooldown, epoch=epoch, steps_per_epoch=steps_per_epoch
        )
    held_rate = settings.held_rate
    if settings.paused and held_rate is None:
        held_rate = answer.learning_rate
    return AnsweredEpoch(
        decision=decision,
        answer=answer,
        clock_origin=origin,
        held_rate=held_rate,
        cooldown=cooldown,
    )


@dataclass(frozen=True)
class StepRule:
    """What the operator's settings made of an epoch's per-step rates: every step `fixed`, or
    the schedule's rates x `scale`. With the decision's inputs it gives the step rates again,
    so they need not be stored or sent (`interval_steps`)."""

    scale: float = 1.0
    fixed: float | None = None
    cooldown: Cooldown | None = None
    """The started cooldown that replaced the schedule's rates (see `apply_cooldown`)."""

    @classmethod
    def of(cls, settings: OperatorSettings) -> StepRule:
        """The rule `answer_epoch` applies to the step rates under `settings` (give the
        settings with the cooldown as the answer started it: `AnsweredEpoch.cooldown`)."""
        fixed = fixed_rate(settings)
        cooldown = settings.cooldown if fixed is None else None
        return cls(scale=settings.scale, fixed=fixed, cooldown=cooldown)


@dataclass(frozen=True)
class IntervalSteps:
    """The per-step rates (and momentums, where the spec schedules them) of one interval."""

    rates: list[float]
    momentums: list[float] | None


def interval_steps(
    spec: Spec,
    state_before: Mapping[str, Any] | None,
    *,
    epoch: int,
    metrics: Mapping[str, float] | None,
    steps_per_epoch: int,
    clock_origin: int,
    rule: StepRule,
) -> IntervalSteps:
    """The per-step rates and momentums of an interval (an epoch of `steps_per_epoch` steps)
    answered with `answer_epoch`, from what it was decided with (the state before it, its
    metrics, the effective clock origin it answered) and the step rule of the settings then:
    the same floats, bit for bit, since the engine is pure.

    The one way every side gets an interval's step rates: the service for its history,
    series and replays, the client from a decision's `steps` (so no k-element lists cross the
    wire). The operator's settings change rates only, never momentums. Raises the engine's
    `EvaluationError` when the spec gives no rate here.
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
    if rule.cooldown is not None:
        answer, _ = apply_cooldown(
            answer, rule.cooldown, epoch=epoch, steps_per_epoch=steps_per_epoch
        )
    assert answer.step_learning_rates is not None
    return IntervalSteps(rates=answer.step_learning_rates, momentums=decision.step_momentums)
