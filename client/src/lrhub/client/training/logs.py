"""What a framework logged, read the way every adapter reports it to lrhub."""

from __future__ import annotations

from collections.abc import Mapping
from math import isfinite
from typing import Any, Literal

from lrhub.schedules import is_metric_name


def reported_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """What a framework logged at an epoch's (or evaluation's) end that the service accepts:
    finite numbers (Python, NumPy or 0-d tensors) under valid metric names, without the rate
    the adapter itself logs."""
    metrics: dict[str, float] = {}
    for name, value in logs.items():
        if name == "learning_rate" or not is_metric_name(name):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of many values
            continue
        if isfinite(number):
            metrics[name] = number
    return metrics


def loss_of(logs: Mapping[str, Any]) -> float | None:
    """The logged `loss` as a float (NaN and infinities kept: they mean the training failed)."""
    try:
        return float(logs["loss"])
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None


def ending_status(last_loss: float | None) -> Literal["completed", "failed"]:
    """How a training that ended normally is reported: failed when its last loss is not finite."""
    return "failed" if last_loss is not None and not isfinite(last_loss) else "completed"
