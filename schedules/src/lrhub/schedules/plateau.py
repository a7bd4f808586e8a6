"""The ReduceLROnPlateau state machine, in Keras's and in PyTorch's flavour.

Keras (``keras/src/callbacks/reduce_lr_on_plateau.py``): the cooldown is decremented before the
improvement test, ``min_delta`` is absolute, a reduction happens when ``wait >= patience`` and
the optimizer's rate is above ``min_lr``, and counters only reset when the rate really changed.
Keras keeps the rate in a float32 variable and compares in float32 (``keras.ops.less`` converts
Python floats to float32 tensors); that round trip is emulated so a local Keras fit and lrhub
give bit-identical rates.

PyTorch (``torch.optim.lr_scheduler.ReduceLROnPlateau``): improvement first, then cooldown,
reduction when ``num_bad_epochs > patience`` and only if it lowers the rate by more than
``eps``; counters reset whether or not the rate changed. float64 throughout.

A non-finite metric is never an improvement (it is never stored as ``best``), so plateau state
stays JSON-serializable.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from .specs import ReduceOnPlateauSpec

TORCH_EPS = 1e-8

Action = Literal["hold", "reduce", "restore"]


def float32(value: float) -> float:
    """``value`` rounded to float32 and back, as a Keras optimizer variable stores it."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


@dataclass(frozen=True)
class Counters:
    """Plateau bookkeeping kept in the job's state between decisions."""

    best: float | None = None
    wait: int = 0
    """Keras's ``wait``; PyTorch's ``num_bad_epochs``."""
    cooldown_counter: int = 0
    reductions: int = 0
    """Reductions since the start or since the last restore (``restart_after``)."""
    stop_wait: int = 0
    """Epochs without improvement while the rate could not go lower (``stop_patience``)."""

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Counters:
        """Counters from a state dict; missing keys take their starting values."""
        best = state.get("best")
        return cls(
            best=None if best is None else float(best),
            wait=int(state.get("wait", 0)),
            cooldown_counter=int(state.get("cooldown_counter", 0)),
            reductions=int(state.get("reductions", 0)),
            stop_wait=int(state.get("stop_wait", 0)),
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-serializable form (spelled out: dataclasses.asdict is slow on this hot path)."""
        return {
            "best": self.best,
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "reductions": self.reductions,
            "stop_wait": self.stop_wait,
        }


@dataclass(frozen=True)
class Observation:
    """What one epoch's metric did to the plateau."""

    counters: Counters
    action: Action
    note: str
    """What happened, for the decision's reason (without the rate)."""
    stop: bool


def can_reduce(spec: ReduceOnPlateauSpec, rate: float) -> bool:
    """Whether a reduction would lower ``rate`` (Keras: float32 comparison with min_lr)."""
    if spec.semantics == "keras":
        return float32(rate) > float32(spec.min_lr)
    return rate - max(rate * spec.factor, spec.min_lr) > TORCH_EPS


def reduced_rate(spec: ReduceOnPlateauSpec, rate: float) -> float:
    """The rate after one reduction (Keras reads the old rate back from float32)."""
    old = float32(rate) if spec.semantics == "keras" else rate
    return max(old * spec.factor, spec.min_lr)


def is_improvement(spec: ReduceOnPlateauSpec, current: float, best: float | None) -> bool:
    """The improvement test of the chosen semantics."""
    if not math.isfinite(current):
        return False
    if best is None:
        return True
    if spec.semantics == "keras":
        if spec.mode == "min":
            return float32(current + spec.min_delta) < float32(best)
        return float32(current - spec.min_delta) > float32(best)
    if spec.threshold_mode == "rel":
        if spec.mode == "min":
            return current < best * (1.0 - spec.min_delta)
        return current > best * (spec.min_delta + 1.0)
    if spec.mode == "min":
        return current < best - spec.min_delta
    return current > best + spec.min_delta


def observe(
    spec: ReduceOnPlateauSpec,
    counters: Counters,
    metrics: Mapping[str, float] | None,
    rate: float,
) -> Observation:
    """Apply the metric observed at the end of the previous epoch; ``rate`` is the current one."""
    if not metrics:
        return Observation(counters, "hold", "no metrics reported yet", stop=False)
    current = metrics.get(spec.monitor)
    if current is None:
        available = ", ".join(sorted(metrics)) or "none"
        note = f"{spec.monitor} was not reported (got {available}): plateau state unchanged"
        return Observation(counters, "hold", note, stop=False)
    improved = is_improvement(spec, current, counters.best)
    step = _keras_step if spec.semantics == "keras" else _torch_step
    updated, action, note = step(spec, counters, current, improved, rate)
    updated = _count_stop_wait(spec, updated, improved, rate)
    if action == "reduce":
        updated = replace(updated, reductions=updated.reductions + 1)
    elif action == "restore":
        updated = replace(updated, reductions=0)
    stop = spec.stop_patience is not None and updated.stop_wait >= spec.stop_patience
    if stop:
        note += f"; stop: no improvement for {updated.stop_wait} epochs at min_lr"
    return Observation(updated, action, note, stop)


def _trigger(spec: ReduceOnPlateauSpec, counters: Counters, rate: float) -> Action:
    if spec.restart_after is not None and counters.reductions >= spec.restart_after:
        return "restore"
    return "reduce" if can_reduce(spec, rate) else "hold"


def _keras_step(
    spec: ReduceOnPlateauSpec, counters: Counters, current: float, improved: bool, rate: float
) -> tuple[Counters, Action, str]:
    best, wait, cooldown = counters.best, counters.wait, counters.cooldown_counter
    if cooldown > 0:
        cooldown -= 1
        wait = 0
    action: Action = "hold"
    if improved:
        best, wait = current, 0
        note = f"{spec.monitor} improved to {current:.6g}"
    elif cooldown > 0:
        note = f"{spec.monitor} did not improve; cooldown, {cooldown} more epochs"
    else:
        wait += 1
        note = f"{spec.monitor} did not improve ({wait}/{spec.patience})"
        if wait >= spec.patience:
            action = _trigger(spec, counters, rate)
            if action != "hold":
                note = f"{spec.monitor} did not improve for {wait} epochs"
                cooldown, wait = spec.cooldown, 0
            else:
                note += ", rate is at min_lr"
    return replace(counters, best=best, wait=wait, cooldown_counter=cooldown), action, note


def _torch_step(
    spec: ReduceOnPlateauSpec, counters: Counters, current: float, improved: bool, rate: float
) -> tuple[Counters, Action, str]:
    best, bad, cooldown = counters.best, counters.wait, counters.cooldown_counter
    if improved:
        best, bad = current, 0
        note = f"{spec.monitor} improved to {current:.6g}"
    else:
        bad += 1
        note = f"{spec.monitor} did not improve ({bad}/{spec.patience + 1})"
    if cooldown > 0:
        cooldown -= 1
        bad = 0
        if not improved:
            note = f"{spec.monitor} did not improve; cooldown, {cooldown} more epochs"
    action: Action = "hold"
    if bad > spec.patience:
        action = _trigger(spec, counters, rate)
        note = f"{spec.monitor} did not improve for {bad} epochs"
        if action == "hold":
            note += ", rate is at min_lr"
        cooldown, bad = spec.cooldown, 0
    return replace(counters, best=best, wait=bad, cooldown_counter=cooldown), action, note


def _count_stop_wait(
    spec: ReduceOnPlateauSpec, counters: Counters, improved: bool, rate: float
) -> Counters:
    if improved:
        return replace(counters, stop_wait=0)
    if not can_reduce(spec, rate):
        return replace(counters, stop_wait=counters.stop_wait + 1)
    return counters
