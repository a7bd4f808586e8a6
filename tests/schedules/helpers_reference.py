"""Drive the engine the way the reference libraries are driven, for the exactness tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from lrhub.schedules import decide, parse_spec, preview


def step_rates(spec: Mapping[str, Any], epochs: int, steps_per_epoch: int) -> list[float]:
    """The engine's rate at every global step 0..epochs*steps_per_epoch-1, via preview."""
    result = preview(parse_spec(spec), epochs, steps_per_epoch=steps_per_epoch)
    assert result.step_learning_rates is not None
    # The rate of an epoch is the rate of its first step.
    assert result.learning_rates == [rates[0] for rates in result.step_learning_rates]
    return [rate for rates in result.step_learning_rates for rate in rates]


def epoch_rates(spec: Mapping[str, Any], epochs: int) -> list[float]:
    """The engine's rate at epochs 0..epochs-1, via preview."""
    rates: list[float] = preview(parse_spec(spec), epochs).learning_rates
    return rates


def plateau_rates(spec: Mapping[str, Any], metrics: Sequence[Mapping[str, float]]) -> list[float]:
    """Rates of epochs 0..len(metrics), one decide() per epoch as a training job asks.

    metrics[n] is observed at the end of epoch n and decides epoch n+1. The state goes through
    JSON between epochs, as it does through the service's database.
    """
    parsed = parse_spec(spec)
    decision = decide(parsed, None, epoch=0)
    rates = [decision.learning_rate]
    for epoch, observed in enumerate(metrics, start=1):
        state = json.loads(json.dumps(decision.state))
        decision = decide(parsed, state, epoch=epoch, metrics=observed)
        rates.append(decision.learning_rate)
    # preview() must tell the same story as the epoch-by-epoch decisions.
    assert preview(parsed, len(metrics) + 1, metrics=list(metrics)).learning_rates == rates
    return rates


def change_epochs(rates: Sequence[float]) -> list[int]:
    """The epochs whose rate differs from the previous epoch's (the reductions)."""
    return [epoch for epoch in range(1, len(rates)) if rates[epoch] != rates[epoch - 1]]
