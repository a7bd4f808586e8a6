"""Evaluating a spec tree for one epoch: its rate (or per-step rates) and its next state.

Every spec is evaluated over the epoch's *ticks*: one tick per epoch, or one per step when
steps_per_epoch is known. A tick carries the schedule's own clock (epoch count and step count,
relative to the clock origin or to the start of a sequence stage). Stateful parts keep their
state in plain dicts: ``{"prev_lr"}`` for expressions, plateau counters (plus ``lr`` or the
``base`` state) for reduce_on_plateau, ``{"stage", "state"}`` for sequences, ``{"factors"}``
for products; a library's plateau scheduler keeps the state of its `plateau_equivalent`.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .curves import momentum_at, rate_at
from .errors import EvaluationError
from .expressions import compile_expression
from .plateau import Counters, observe, reduced_rate
from .specs import (
    ExpressionSpec,
    ProductSpec,
    ReduceOnPlateauSpec,
    SequenceSpec,
    Spec,
    StatelessSpec,
    TimmSpec,
    TransformersSpec,
    plateau_equivalent,
)


@dataclass(frozen=True)
class Tick:
    """One point of the epoch on the schedule's own clock."""

    epoch: int
    step: int | None
    """None when steps_per_epoch is unknown."""
    index: int
    """Position of the step within the job's epoch (0 when per-epoch)."""


@dataclass(frozen=True)
class EvaluationContext:
    """What every part of the spec tree sees during one decision."""

    epoch: int
    """The job's epoch being decided."""
    steps_per_epoch: int | None
    metrics: Mapping[str, float]
    """Observed at the end of the previous epoch (empty for the first)."""
    plateau_sees_metrics: bool = True
    """False in a sequence stage that starts now: the metrics belong to an earlier stage."""


@dataclass(frozen=True)
class Evaluation:
    """Rates for the ticks, the next state, and why."""

    rates: list[float]
    state: dict[str, Any]
    reason: str
    stop: bool = False
    reductions: int = 0
    momentums: list[float] | None = None
    """Momentum (beta1) for the ticks, where the spec schedules it."""


def evaluate(
    spec: Spec, state: Mapping[str, Any], ticks: list[Tick], ctx: EvaluationContext
) -> Evaluation:
    """Evaluate ``spec`` over ``ticks``; never mutates ``state``."""
    if isinstance(spec, SequenceSpec):
        return _sequence(spec, state, ticks, ctx)
    if isinstance(spec, ReduceOnPlateauSpec):
        return _plateau(spec, state, ticks, ctx)
    if isinstance(spec, ExpressionSpec):
        return _expression(spec, state, ticks, ctx)
    if isinstance(spec, ProductSpec):
        return _product(spec, state, ticks, ctx)
    if isinstance(spec, TransformersSpec | TimmSpec):
        equivalent = plateau_equivalent(spec)
        if equivalent is not None:
            return evaluate(equivalent, state, ticks, ctx)
    return _stateless(spec, ticks, ctx)


def _product(
    spec: ProductSpec, state: Mapping[str, Any], ticks: list[Tick], ctx: EvaluationContext
) -> Evaluation:
    """torch's ChainedScheduler: each factor on the same clock, their rates multiplied."""
    stored = list(state.get("factors", []))
    parts = [
        evaluate(factor, stored[index] if index < len(stored) else {}, ticks, ctx)
        for index, factor in enumerate(spec.factors)
    ]
    rates = [math.prod(rates) for rates in zip(*(part.rates for part in parts), strict=True)]
    reason = " x ".join(f"({part.reason})" for part in parts)
    return Evaluation(
        rates,
        {"factors": [part.state for part in parts]},
        f"product {rates[0]:.6g} of {reason}",
        stop=any(part.stop for part in parts),
        reductions=sum(part.reductions for part in parts),
        # torch's chained schedulers each set momentum outright: the last one's stands.
        momentums=next((p.momentums for p in reversed(parts) if p.momentums is not None), None),
    )


def _position(spec: Spec, tick: Tick) -> int:
    if spec.unit == "epoch":
        return tick.epoch
    if tick.step is None:
        raise EvaluationError(f"{spec.type} counts steps (unit 'step'): give steps_per_epoch")
    return tick.step


def _stateless(spec: StatelessSpec, ticks: list[Tick], ctx: EvaluationContext) -> Evaluation:
    rates: list[float] = []
    last: tuple[int, float] | None = None
    for tick in ticks:
        t = _position(spec, tick)
        if last is None or last[0] != t:
            try:
                last = (t, float(rate_at(spec, t)))
            except (ArithmeticError, ValueError) as exc:
                message = f"{spec.type} has no rate at epoch {ctx.epoch}: {exc}"
                raise EvaluationError(message) from exc
        rates.append(last[1])
    first = _position(spec, ticks[0])
    momentums: list[float] | None = None
    if momentum_at(spec, first) is not None:
        momentums = [momentum_at(spec, _position(spec, tick)) or 0.0 for tick in ticks]
    reason = f"{spec.type} at {spec.unit} {first}: {rates[0]:.6g}"
    return Evaluation(rates, {}, reason, momentums=momentums)


def _expression(
    spec: ExpressionSpec, state: Mapping[str, Any], ticks: list[Tick], ctx: EvaluationContext
) -> Evaluation:
    compiled = compile_expression(spec.expression)
    previous = float(state.get("prev_lr", spec.initial_learning_rate))
    if compiled.metrics and not ctx.metrics:
        # The first epoch has no metrics yet: a formula of metrics holds its previous rate.
        reason = f"expression: no metrics reported yet, rate held at {previous:.6g}"
        return Evaluation([previous] * len(ticks), {"prev_lr": previous}, reason)
    missing = sorted(compiled.metrics - ctx.metrics.keys())
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise EvaluationError(
            f"expression needs metric {names}, not reported for epoch {ctx.epoch - 1}"
        )
    env: dict[str, float] = dict(ctx.metrics)
    env["epoch"] = float(ctx.epoch)
    env["initial_learning_rate"] = spec.initial_learning_rate
    rates: list[float] = []
    last_t: int | None = None
    for tick in ticks:
        t = _position(spec, tick)
        if t != last_t:
            env["t"] = float(t)
            env["prev_lr"] = previous
            if ctx.steps_per_epoch is not None:
                env["step"] = float(ctx.epoch * ctx.steps_per_epoch + tick.index)
            try:
                previous = compiled.evaluate(env)
            except EvaluationError as exc:
                raise EvaluationError(f"epoch {ctx.epoch}: {exc}") from exc
            if previous < 0:
                message = f"epoch {ctx.epoch}: expression gave a negative rate {previous}"
                raise EvaluationError(message)
            last_t = t
        rates.append(previous)
    first = _position(spec, ticks[0])
    reason = f"expression at {spec.unit} {first}: {rates[0]:.6g}"
    return Evaluation(rates, {"prev_lr": previous}, reason)


def _plateau(
    spec: ReduceOnPlateauSpec, state: Mapping[str, Any], ticks: list[Tick], ctx: EvaluationContext
) -> Evaluation:
    counters = Counters.from_state(state)
    metrics = ctx.metrics if ctx.plateau_sees_metrics else None
    if spec.base is None:
        return _plateau_on_rate(spec, state, counters, metrics, len(ticks))
    base = evaluate(spec.base, state.get("base", {}), ticks, ctx)

    def scaled(rate: float, reductions: int) -> float:
        return max(rate * spec.factor**reductions, spec.min_lr)

    current = scaled(base.rates[0], counters.reductions)
    seen = observe(spec, counters, metrics, current)
    rates = [scaled(rate, seen.counters.reductions) for rate in base.rates]
    new_state = {**seen.counters.to_state(), "base": base.state}
    reason = _plateau_reason(seen.action, seen.note, current, rates[0], spec)
    return Evaluation(
        rates,
        new_state,
        f"{reason} (base {base.reason})",
        stop=seen.stop or base.stop,
        reductions=int(seen.action == "reduce") + base.reductions,
        momentums=base.momentums,
    )


def _plateau_on_rate(
    spec: ReduceOnPlateauSpec,
    state: Mapping[str, Any],
    counters: Counters,
    metrics: Mapping[str, float] | None,
    count: int,
) -> Evaluation:
    assert spec.initial_learning_rate is not None  # guaranteed by validation: rate xor base
    current = float(state.get("lr", spec.initial_learning_rate))
    seen = observe(spec, counters, metrics, current)
    rate = current
    if seen.action == "reduce":
        rate = reduced_rate(spec, current)
    elif seen.action == "restore":
        rate = spec.initial_learning_rate
    new_state = {**seen.counters.to_state(), "lr": rate}
    reason = _plateau_reason(seen.action, seen.note, current, rate, spec)
    return Evaluation(
        [rate] * count, new_state, reason, stop=seen.stop, reductions=int(seen.action == "reduce")
    )


def _plateau_reason(
    action: str, note: str, before: float, after: float, spec: ReduceOnPlateauSpec
) -> str:
    if action == "reduce":
        return f"{note}: {before:.6g} -> {after:.6g}"
    if action == "restore":
        return f"{note} after {spec.restart_after} reductions: restored {before:.6g} -> {after:.6g}"
    return f"{note}; rate {after:.6g}"


def _sequence(
    spec: SequenceSpec, state: Mapping[str, Any], ticks: list[Tick], ctx: EvaluationContext
) -> Evaluation:
    ends = list(itertools.accumulate(stage.duration or 0 for stage in spec.stages[:-1]))
    starts = [0, *ends]
    stored_stage = state.get("stage")
    current_stage: int | None = None if stored_stage is None else int(stored_stage)
    current_state: Mapping[str, Any] = state.get("state", {})
    rates: list[float] = []
    momentums: list[float] | None = []
    reasons: list[str] = []
    stop = False
    reductions = 0
    groups = itertools.groupby(ticks, key=lambda tick: bisect_right(ends, _position(spec, tick)))
    for index, group in groups:
        local = [_local_tick(spec, tick, starts[index], ctx) for tick in group]
        # A stage entered now starts fresh; a plateau in it ignores the previous stage's metrics.
        continuing = current_stage == index or (current_stage is None and not current_state)
        stage_state = current_state if current_stage == index else {}
        stage_ctx = ctx if continuing else replace(ctx, plateau_sees_metrics=False)
        stage_result = evaluate(spec.stages[index].schedule, stage_state, local, stage_ctx)
        rates.extend(stage_result.rates)
        # Momentum is scheduled only where every stage of the epoch schedules it.
        if momentums is not None and stage_result.momentums is not None:
            momentums.extend(stage_result.momentums)
        else:
            momentums = None
        reasons.append(f"stage {index + 1}/{len(spec.stages)}: {stage_result.reason}")
        stop = stop or stage_result.stop
        reductions += stage_result.reductions
        current_stage, current_state = index, stage_result.state
    return Evaluation(
        rates,
        {"stage": current_stage, "state": dict(current_state)},
        "; then ".join(reasons),
        stop=stop,
        reductions=reductions,
        momentums=momentums,
    )


def _local_tick(spec: SequenceSpec, tick: Tick, start: int, ctx: EvaluationContext) -> Tick:
    """The tick on the clock of a stage that started at ``start`` (in the sequence's unit)."""
    if spec.unit == "epoch":
        step = None
        if tick.step is not None and ctx.steps_per_epoch is not None:
            step = tick.step - start * ctx.steps_per_epoch
        return Tick(tick.epoch - start, step, tick.index)
    assert tick.step is not None and ctx.steps_per_epoch is not None  # _position checked
    local_step = tick.step - start
    return Tick(local_step // ctx.steps_per_epoch, local_step, tick.index)
