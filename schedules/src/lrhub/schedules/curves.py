"""Closed-form rates of the stateless schedules, in float64.

The Keras families follow ``keras/src/optimizers/schedules/learning_rate_schedule.py`` operation
by operation; the PyTorch families follow ``torch/optim/lr_scheduler.py``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from .libraries import timm_rate, transformers_rate
from .specs import (
    ConstantSpec,
    CosineDecayRestartsSpec,
    CosineDecaySpec,
    CyclicSpec,
    ExponentialDecaySpec,
    InverseTimeDecaySpec,
    LinearSpec,
    MultiStepSpec,
    OneCycleSpec,
    PiecewiseConstantDecaySpec,
    PolynomialDecaySpec,
    RampHoldDecaySpec,
    StatelessSpec,
    StepDecaySpec,
    TimmSpec,
    TransformersSpec,
    one_cycle_phase_ends,
)


def constant(spec: ConstantSpec, t: float) -> float:
    """The fixed rate."""
    return spec.learning_rate


def exponential_decay(spec: ExponentialDecaySpec, t: float) -> float:
    """Keras ExponentialDecay."""
    p = t / spec.decay_steps
    if spec.staircase:
        p = math.floor(p)
    return spec.initial_learning_rate * math.pow(spec.decay_rate, p)


def inverse_time_decay(spec: InverseTimeDecaySpec, t: float) -> float:
    """Keras InverseTimeDecay."""
    p = t / spec.decay_steps
    if spec.staircase:
        p = math.floor(p)
    return spec.initial_learning_rate / (1.0 + spec.decay_rate * p)


def piecewise_constant_decay(spec: PiecewiseConstantDecaySpec, t: float) -> float:
    """Keras PiecewiseConstantDecay: boundaries are inclusive upper bounds."""
    return spec.values[bisect_left(spec.boundaries, t)]


def polynomial_decay(spec: PolynomialDecaySpec, t: float) -> float:
    """Keras PolynomialDecay, cycling by stretching decay_steps to the next multiple."""
    decay_steps = spec.decay_steps
    if spec.cycle:
        multiplier = 1.0 if t == 0 else math.ceil(t / spec.decay_steps)
        decay_steps = decay_steps * multiplier
    else:
        t = min(t, decay_steps)
    p = t / decay_steps
    span = spec.initial_learning_rate - spec.end_learning_rate
    return span * math.pow(1 - p, spec.power) + spec.end_learning_rate


def _cosine(step: float, decay_steps: float, decay_from: float, alpha: float) -> float:
    cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * (step / decay_steps)))
    return decay_from * ((1 - alpha) * cosine_decayed + alpha)


def cosine_decay(spec: CosineDecaySpec, t: float) -> float:
    """Keras CosineDecay with its optional linear warm-up to warmup_target."""
    if spec.warmup_target is None:
        return _cosine(
            min(t, spec.decay_steps), spec.decay_steps, spec.initial_learning_rate, spec.alpha
        )
    t = min(t, spec.decay_steps + spec.warmup_steps)
    if t < spec.warmup_steps:
        delta = spec.warmup_target - spec.initial_learning_rate
        return delta * (t / spec.warmup_steps) + spec.initial_learning_rate
    return _cosine(t - spec.warmup_steps, spec.decay_steps, spec.warmup_target, spec.alpha)


def cosine_decay_restarts(spec: CosineDecayRestartsSpec, t: float) -> float:
    """Keras CosineDecayRestarts (SGDR)."""
    fraction = t / spec.first_decay_steps
    if spec.t_mul == 1.0:
        restart = math.floor(fraction)
        fraction -= restart
    else:
        restart = math.floor(math.log(1.0 - fraction * (1.0 - spec.t_mul)) / math.log(spec.t_mul))
        done = (1.0 - spec.t_mul**restart) / (1.0 - spec.t_mul)
        fraction = (fraction - done) / spec.t_mul**restart
    cosine_decayed = 0.5 * spec.m_mul**restart * (1.0 + math.cos(math.pi * fraction))
    decayed = (1 - spec.alpha) * cosine_decayed + spec.alpha
    return spec.initial_learning_rate * decayed


def step_decay(spec: StepDecaySpec, t: float) -> float:
    """initial * drop^floor((t + offset) / every)."""
    return spec.initial_learning_rate * spec.drop ** math.floor((t + spec.offset) / spec.every)


def multi_step(spec: MultiStepSpec, t: float) -> float:
    """PyTorch MultiStepLR's closed form."""
    return spec.initial_learning_rate * spec.gamma ** bisect_right(spec.milestones, t)


def linear(spec: LinearSpec, t: float) -> float:
    """Straight line from start to end over duration, then held at end."""
    if t >= spec.duration:
        return spec.end_learning_rate
    span = spec.end_learning_rate - spec.start_learning_rate
    return spec.start_learning_rate + span * (t / spec.duration)


def _cyclic_scales(spec: CyclicSpec, t: float) -> tuple[float, float]:
    """CyclicLR's position in its cycle (0 to 1 and back) and its mode's amplitude scale."""
    up = float(spec.step_size_up)
    down = float(spec.step_size_down) if spec.step_size_down is not None else up
    total = up + down
    ratio = up / total
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    if spec.mode == "triangular":
        return scale, 1.0
    if spec.mode == "triangular2":
        return scale, 1 / (2.0 ** (cycle - 1))
    return scale, math.pow(spec.gamma, t)


def cyclic(spec: CyclicSpec, t: float) -> float:
    """PyTorch CyclicLR.get_lr with last_epoch = t."""
    scale, amplitude = _cyclic_scales(spec, t)
    height = (spec.max_learning_rate - spec.base_learning_rate) * scale
    return spec.base_learning_rate + height * amplitude


def _one_cycle_phase(spec: OneCycleSpec, t: float) -> tuple[int, float]:
    """The phase OneCycleLR is in at t and how far through it; past total_steps - 1 the end."""
    step = min(t, float(spec.total_steps - 1))
    ends = one_cycle_phase_ends(spec.pct_start, spec.total_steps, spec.three_phase)
    start_step = 0.0
    for index, end_step in enumerate(ends):
        if step <= end_step or index == len(ends) - 1:
            return index, (step - start_step) / (end_step - start_step)
        start_step = end_step
    raise AssertionError("unreachable: the last phase always answers")


def one_cycle(spec: OneCycleSpec, t: float) -> float:
    """PyTorch OneCycleLR.get_lr; from step total_steps - 1 on, its final rate is held."""
    initial = spec.max_learning_rate / spec.div_factor
    rates = {"initial": initial, "max": spec.max_learning_rate}
    rates["min"] = initial / spec.final_div_factor
    phases = [("initial", "max"), ("max", "min")]
    if spec.three_phase:
        phases = [("initial", "max"), ("max", "initial"), ("initial", "min")]
    index, pct = _one_cycle_phase(spec, t)
    start, end = phases[index]
    return _anneal(spec.anneal_strategy, rates[start], rates[end], pct)


def momentum_at(spec: StatelessSpec, t: float) -> float | None:
    """The momentum (or Adam's beta1) PyTorch's OneCycleLR or CyclicLR sets at t, cycled
    inversely to the rate; None for a spec that does not cycle momentum."""
    if isinstance(spec, CyclicSpec) and spec.cycle_momentum:
        scale, amplitude = _cyclic_scales(spec, t)
        height = (spec.max_momentum - spec.base_momentum) * scale
        return spec.max_momentum - height * amplitude
    if isinstance(spec, OneCycleSpec) and spec.cycle_momentum:
        low, high = spec.base_momentum, spec.max_momentum
        phases = [(high, low), (low, high)]
        if spec.three_phase:
            phases = [(high, low), (low, high), (high, high)]
        index, pct = _one_cycle_phase(spec, t)
        return _anneal(spec.anneal_strategy, *phases[index], pct)
    return None


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


def ramp_hold_decay(spec: RampHoldDecaySpec, t: float) -> float:
    """The ramp-sustain-decay ("one cycle") function of Keras scheduling-function tutorials."""
    if t < spec.rampup:
        slope = (spec.max_learning_rate - spec.start_learning_rate) / spec.rampup
        return slope * t + spec.start_learning_rate
    if t < spec.rampup + spec.sustain:
        return spec.max_learning_rate
    decay = math.pow(spec.exp_decay, t - spec.rampup - spec.sustain)
    return (spec.max_learning_rate - spec.min_learning_rate) * decay + spec.min_learning_rate


_CURVES: dict[str, Callable[[Any, float], float]] = {
    "constant": constant,
    "exponential_decay": exponential_decay,
    "inverse_time_decay": inverse_time_decay,
    "piecewise_constant_decay": piecewise_constant_decay,
    "polynomial_decay": polynomial_decay,
    "cosine_decay": cosine_decay,
    "cosine_decay_restarts": cosine_decay_restarts,
    "step_decay": step_decay,
    "multi_step": multi_step,
    "linear": linear,
    "cyclic": cyclic,
    "one_cycle": one_cycle,
    "ramp_hold_decay": ramp_hold_decay,
}


def rate_at(spec: StatelessSpec, t: float) -> float:
    """The rate of a stateless spec at t (epochs or steps, as its unit says)."""
    if isinstance(spec, TransformersSpec):
        return transformers_rate(spec, t)
    if isinstance(spec, TimmSpec):
        return timm_rate(spec, t)
    return _CURVES[spec.type](spec, t)
