"""Rates of the Transformers and timm schedulers, operation by operation as the libraries
compute them (``transformers/optimization.py``; ``timm/scheduler/*_lr.py``), in float64.

Transformers' schedulers are torch ``LambdaLR``s: the rate at step t is ``learning_rate *
factor(t)``. timm's are functions of t alone (noise off); their plateau scheduler is stateful and
is evaluated as its `plateau_equivalent` instead.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from typing import Any

from .specs import TimmSpec, TransformersSpec

WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def wsd_decay(shape: str, progress: float, num_cycles: float = 0.5) -> float:
    """Transformers' warmup-stable-decay decay factor at `progress` in [0, 1] (1 down to 0):
    ``linear`` 1-p, ``cosine`` (1+cos(2 pi num_cycles p))/2, ``1-sqrt`` 1-sqrt(p). Shared by the
    `transformers` spec and the cooldown a job can be given."""
    if shape == "linear":
        return 1.0 - progress
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    if shape == "1-sqrt":
        return 1.0 - math.sqrt(progress)
    raise ValueError(f"unknown decay shape {shape!r}")


def _warmup(step: float, warmup: int) -> float:
    return float(step) / float(max(1, warmup))


def _transformers_factor(spec: TransformersSpec, step: float) -> float:
    name, warmup, kwargs = spec.scheduler, spec.num_warmup_steps, spec.kwargs
    total = spec.num_training_steps
    if name == "constant":
        return 1.0
    if name == "constant_with_warmup":
        return float(step) / float(max(1.0, warmup)) if step < warmup else 1.0
    if name == "inverse_sqrt":
        if step < warmup:
            return _warmup(step, warmup)
        timescale = kwargs["timescale"] or warmup or 10_000
        return 1.0 / math.sqrt((step + (timescale - warmup)) / timescale)
    if name == "warmup_stable_decay":
        return _wsd_factor(spec, step)
    assert total is not None  # validation: these types need num_training_steps
    if name == "cosine_warmup_with_min_lr":
        return _cosine_warmup_min_factor(spec, float(step), float(warmup), float(total))
    if step < warmup:
        return _warmup(step, warmup)
    progress = float(step - warmup) / float(max(1, total - warmup))
    if name == "linear":
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    if name == "cosine":
        return max(
            0.0, 0.5 * (1.0 + math.cos(math.pi * float(kwargs["num_cycles"]) * 2.0 * progress))
        )
    if name == "cosine_with_restarts":
        if progress >= 1.0:
            return 0.0
        cycle = (float(kwargs["num_cycles"]) * progress) % 1.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * cycle)))
    if name == "polynomial":
        return _polynomial_factor(spec, step, warmup, total)
    # cosine_with_min_lr
    factor = 0.5 * (1.0 + math.cos(math.pi * float(kwargs["num_cycles"]) * 2.0 * progress))
    min_rate = _min_lr_rate(spec)
    return max(0, factor * (1 - min_rate) + min_rate)


def _min_lr_rate(spec: TransformersSpec) -> float:
    min_lr = spec.kwargs["min_lr"]
    return float(spec.kwargs["min_lr_rate"]) if min_lr is None else min_lr / spec.learning_rate


def _polynomial_factor(spec: TransformersSpec, step: float, warmup: int, total: int) -> float:
    lr_init, lr_end, power = spec.learning_rate, spec.kwargs["lr_end"], spec.kwargs["power"]
    if step > total:
        return float(lr_end / lr_init)
    pct_remaining = 1 - (step - warmup) / (total - warmup)
    decay = (lr_init - lr_end) * pct_remaining**power + lr_end
    return float(decay / lr_init)


def _cosine_warmup_min_factor(
    spec: TransformersSpec, step: float, warmup: float, total: float
) -> float:
    kwargs = spec.kwargs
    if step < warmup:
        warmup_rate = kwargs["warmup_lr_rate"]
        if warmup_rate is None:
            return (step + 1.0) / max(1.0, warmup)
        warmup_rate = float(warmup_rate)
        return warmup_rate + (1.0 - warmup_rate) * step / max(1, warmup - 1)
    progress = (step - warmup + 1.0) / max(1.0, total - warmup)
    factor = 0.5 * (1.0 + math.cos(math.pi * kwargs["num_cycles"] * 2.0 * progress))
    min_rate = _min_lr_rate(spec)
    return max(0, factor * (1 - min_rate) + min_rate)


def _wsd_factor(spec: TransformersSpec, step: float) -> float:
    kwargs, warmup = spec.kwargs, spec.num_warmup_steps
    decay_steps = kwargs["num_decay_steps"]
    stable = kwargs["num_stable_steps"]
    if stable is None:
        assert spec.num_training_steps is not None  # validation: one of the two is given
        stable = spec.num_training_steps - warmup - decay_steps
    min_ratio = float(kwargs["min_lr_ratio"])
    if step < warmup:
        progress = float(step) / float(max(1, warmup))
        shape = kwargs["warmup_type"]
        if shape == "linear":
            factor = progress
        elif shape == "cosine":
            factor = 0.5 * (1.0 - math.cos(math.pi * progress))
        else:
            factor = 1.0 - math.sqrt(1.0 - progress)
        return max(0.0, factor * (1.0 - min_ratio) + min_ratio)
    if step < warmup + stable:
        return 1.0
    if step < warmup + stable + decay_steps:
        progress = float(step - warmup - stable) / float(max(1, decay_steps))
        factor = wsd_decay(kwargs["decay_type"], progress, kwargs["num_cycles"])
        return max(0.0, factor * (1.0 - min_ratio) + min_ratio)
    return min_ratio


def transformers_rate(spec: TransformersSpec, t: float) -> float:
    """The rate of ``get_scheduler(spec.scheduler, ...)`` at step t (its ``last_epoch``)."""
    return spec.learning_rate * _transformers_factor(spec, t)


def _cycle(kwargs: Mapping[str, Any], t: float) -> tuple[int, float, float]:
    """timm's (cycle index, cycle length, position in the cycle) at t."""
    t_initial, cycle_mul = kwargs["t_initial"], kwargs["cycle_mul"]
    if cycle_mul != 1:
        i = math.floor(math.log(1 - t / t_initial * (1 - cycle_mul), cycle_mul))
        t_i = cycle_mul**i * t_initial
        t_curr = t - (1 - cycle_mul**i) / (1 - cycle_mul) * t_initial
        return i, t_i, t_curr
    i = int(t // t_initial)
    return i, t_initial, t - (t_initial * i)


def _timm_warmup_step(spec: TimmSpec) -> float:
    kwargs = spec.kwargs
    warmup_t, start = kwargs["warmup_t"], kwargs["warmup_lr_init"]
    target = spec.learning_rate
    if spec.scheduler == "tanh" and not kwargs["warmup_prefix"]:
        target = _timm_after_warmup(spec, warmup_t)  # timm ramps to the curve's rate there
    return float((target - start) / warmup_t)


def _timm_after_warmup(spec: TimmSpec, t: float) -> float:
    kwargs, name, base = spec.kwargs, spec.scheduler, spec.learning_rate
    if name == "wsd":
        return _timm_wsd(spec, t)
    if kwargs["warmup_prefix"]:
        t = t - kwargs["warmup_t"]
    if name == "step":
        return float(base * (kwargs["decay_rate"] ** (t // kwargs["decay_t"])))
    if name == "multistep":
        return float(base * (kwargs["decay_rate"] ** bisect_right(kwargs["decay_t"], t + 1)))
    i, t_i, t_curr = _cycle(kwargs, t)
    lr_min = kwargs["lr_min"]
    if i >= kwargs["cycle_limit"]:
        return float(lr_min)
    lr_max = base * kwargs["cycle_decay"] ** i
    if name == "tanh":
        tr = t_curr / t_i
        squash = 1 - math.tanh(kwargs["lb"] * (1.0 - tr) + kwargs["ub"] * tr)
        return float(lr_min + 0.5 * (lr_max - lr_min) * squash)
    k = kwargs["k_decay"]
    if name == "poly":
        return float(lr_min + (lr_max - lr_min) * (1 - t_curr**k / t_i**k) ** kwargs["power"])
    return float(lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr**k / t_i**k)))


def _timm_wsd(spec: TimmSpec, t: float) -> float:
    kwargs = spec.kwargs
    t_s = t - kwargs["warmup_t"]
    stable = 1.0
    if kwargs["stable_fn"] != "constant":
        power = 0.5 if kwargs["stable_fn"] == "rsqrt" else kwargs["stable_power"]
        timescale = kwargs["stable_timescale"] or kwargs["warmup_t"]
        stable = (1.0 + t_s / timescale) ** -power
    lr_min = kwargs["lr_min"]
    stable_lr = max(spec.learning_rate * stable, lr_min)
    t_decay = t_s - (kwargs["t_initial"] - kwargs["decay_t"])
    if t_decay <= 0:
        return float(stable_lr)
    frac = min(t_decay / kwargs["decay_t"], 1.0)
    shape = kwargs["decay_fn"]
    if shape in WSD_SHAPES:
        decay = wsd_decay(shape, frac)
    elif shape == "power":
        decay = 1.0 - frac ** kwargs["decay_power"]
    else:  # exp
        r = kwargs["decay_ratio"]
        decay = (r**frac - r) / (1.0 - r)
    return float(lr_min + (stable_lr - lr_min) * decay)


def timm_rate(spec: TimmSpec, t: float) -> float:
    """The rate timm's scheduler sets at t (``step(t)`` per epoch, ``step_update(t)`` per step)."""
    warmup_t = spec.kwargs["warmup_t"]
    if t < warmup_t:
        return float(spec.kwargs["warmup_lr_init"] + t * _timm_warmup_step(spec))
    return _timm_after_warmup(spec, t)
