"""Properties over generated specs and metric streams (hypothesis)."""

from __future__ import annotations

import copy
import itertools
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lrhub.schedules import EvaluationError, ExpressionError, decide, parse_spec, preview
from lrhub.schedules.expressions import compile_expression

rates = st.floats(min_value=1e-6, max_value=10.0)
fractions = st.floats(min_value=0.01, max_value=0.99)
periods = st.integers(min_value=1, max_value=50)
units = st.sampled_from(["epoch", "step"])


@st.composite
def exponential(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "exponential_decay",
        "initial_learning_rate": draw(rates),
        "decay_steps": draw(periods),
        "decay_rate": draw(fractions),
        "staircase": draw(st.booleans()),
    }


@st.composite
def inverse_time(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "inverse_time_decay",
        "initial_learning_rate": draw(rates),
        "decay_steps": draw(periods),
        "decay_rate": draw(st.floats(0, 10)),
        "staircase": draw(st.booleans()),
    }


@st.composite
def polynomial(draw: st.DrawFn) -> dict[str, Any]:
    initial = draw(rates)
    return {
        "type": "polynomial_decay",
        "initial_learning_rate": initial,
        "end_learning_rate": draw(st.floats(0, initial)),
        "decay_steps": draw(periods),
        "power": draw(st.floats(0.1, 4)),
    }


@st.composite
def cosine(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "cosine_decay",
        "initial_learning_rate": draw(rates),
        "decay_steps": draw(periods),
        "alpha": draw(st.floats(0, 1)),
    }


@st.composite
def step_decay(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "step_decay",
        "initial_learning_rate": draw(rates),
        "drop": draw(fractions),
        "every": draw(periods),
        "offset": draw(st.integers(0, 5)),
    }


@st.composite
def multi_step(draw: st.DrawFn) -> dict[str, Any]:
    milestones = sorted(draw(st.lists(st.integers(0, 100), min_size=1, max_size=6)))
    return {
        "type": "multi_step",
        "initial_learning_rate": draw(rates),
        "milestones": milestones,
        "gamma": draw(fractions),
    }


MONOTONE = st.one_of(
    exponential(), inverse_time(), polynomial(), cosine(), step_decay(), multi_step()
)


@st.composite
def other_stateless(draw: st.DrawFn) -> dict[str, Any]:
    low, high = sorted([draw(rates), draw(rates)])
    kind = draw(st.sampled_from(["restarts", "cyclic", "one_cycle", "ramp", "linear", "warmup"]))
    if kind == "restarts":
        return {
            "type": "cosine_decay_restarts",
            "initial_learning_rate": high,
            "first_decay_steps": draw(periods),
            "t_mul": draw(st.floats(1, 3)),
            "m_mul": draw(st.floats(0, 1)),
            "alpha": draw(st.floats(0, 1)),
        }
    if kind == "cyclic":
        return {
            "type": "cyclic",
            "base_learning_rate": low,
            "max_learning_rate": high,
            "step_size_up": draw(periods),
            "step_size_down": draw(periods),
            "mode": draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
            "gamma": draw(st.floats(0.5, 1)),
        }
    if kind == "one_cycle":
        return {
            "type": "one_cycle",
            "max_learning_rate": high,
            "total_steps": draw(st.integers(20, 300)),
            "pct_start": draw(st.floats(0.1, 0.4)),
            "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
            "three_phase": draw(st.booleans()),
        }
    if kind == "ramp":
        return {
            "type": "ramp_hold_decay",
            "start_learning_rate": low,
            "max_learning_rate": high,
            "min_learning_rate": low,
            "rampup": draw(st.integers(0, 20)),
            "sustain": draw(st.integers(0, 5)),
            "exp_decay": draw(fractions),
        }
    if kind == "linear":
        return {
            "type": "linear",
            "start_learning_rate": low,
            "end_learning_rate": high,
            "duration": draw(periods),
        }
    return {
        "type": "cosine_decay",
        "initial_learning_rate": low,
        "decay_steps": draw(periods),
        "warmup_target": high,
        "warmup_steps": draw(periods),
    }


@st.composite
def plateau(draw: st.DrawFn) -> dict[str, Any]:
    semantics = draw(st.sampled_from(["keras", "torch"]))
    min_lr = draw(st.floats(0, 0.01))
    spec: dict[str, Any] = {
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "semantics": semantics,
        "factor": draw(fractions),
        "patience": draw(st.integers(0, 4)),
        "min_delta": draw(st.sampled_from([0.0, 1e-4, 1e-2])),
        "cooldown": draw(st.integers(0, 3)),
        "min_lr": min_lr,
        "restart_after": draw(st.none() | st.integers(1, 3)),
        "stop_patience": draw(st.none() | st.integers(0, 4)),
    }
    if semantics == "torch":
        spec["threshold_mode"] = draw(st.sampled_from(["rel", "abs"]))
    if draw(st.booleans()):
        spec["base"] = draw(MONOTONE | other_stateless())
    else:
        spec["initial_learning_rate"] = draw(st.floats(min_lr, 1.0))
    return spec


losses = st.lists(
    st.floats(min_value=-5, max_value=5) | st.sampled_from([float("nan"), float("inf")]),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(MONOTONE)
def test_monotone_families_never_increase(data: dict[str, Any]) -> None:
    curve = preview(parse_spec(data), 120).learning_rates
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(curve))


@settings(max_examples=150, deadline=None)
@given(MONOTONE | other_stateless(), units, st.integers(1, 5))
def test_stateless_rates_are_finite_and_non_negative(
    data: dict[str, Any], unit: str, steps: int
) -> None:
    result = preview(parse_spec({**data, "unit": unit}), 60, steps_per_epoch=steps)
    assert result.step_learning_rates is not None
    flat = [rate for epoch in result.step_learning_rates for rate in epoch]
    assert len(flat) == 60 * steps
    assert all(0 <= rate < float("inf") for rate in flat)
    assert result.learning_rates == [epoch[0] for epoch in result.step_learning_rates]


@settings(max_examples=150, deadline=None)
@given(plateau(), losses)
def test_plateau_rates_stay_finite_and_never_below_min_lr(
    data: dict[str, Any], values: list[float]
) -> None:
    spec = parse_spec(data)
    result = preview(spec, len(values) + 1, metrics=[{"val_loss": v} for v in values])
    assert all(data["min_lr"] <= rate < float("inf") for rate in result.learning_rates)


@settings(max_examples=100, deadline=None)
@given(plateau(), losses)
def test_decide_is_deterministic_and_state_survives_json(
    data: dict[str, Any], values: list[float]
) -> None:
    spec = parse_spec(data)
    state: dict[str, Any] = {}
    for epoch, value in enumerate([None, *values]):
        metrics = None if value is None else {"val_loss": value}
        before = copy.deepcopy(state)
        decision = decide(spec, state, epoch=epoch, metrics=metrics)
        assert state == before
        assert decide(spec, before, epoch=epoch, metrics=metrics) == decision
        reloaded = json.loads(json.dumps(decision.state, allow_nan=False))
        following = {"val_loss": 1.0}
        assert decide(spec, reloaded, epoch=epoch + 1, metrics=following) == decide(
            spec, decision.state, epoch=epoch + 1, metrics=following
        )
        state = reloaded


TOKENS = [
    "x",
    "prev_lr",
    "epoch",
    "1",
    "0",
    "2.5",
    "1e308",
    "-",
    "+",
    "*",
    "/",
    "//",
    "%",
    "**",
    "(",
    ")",
    "<",
    "==",
    "and",
    "or",
    "not",
    "if",
    "else",
    "exp(",
    "log(",
    "min(",
    ",",
    "clip(",
    "pow(",
    ".",
    "[",
    "]",
    "__",
    "lambda",
    ":",
    "'",
    "for",
    "in",
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_any_text_is_compiled_or_refused_and_evaluates_or_fails_cleanly(source: str) -> None:
    try:
        compiled = compile_expression(source)
    except ExpressionError as refused:
        assert str(refused)
        return
    env = {name: 0.5 for name in compiled.names}
    try:
        result = compiled.evaluate(env)
    except EvaluationError as failed:
        assert str(failed)
        return
    assert math.isfinite(result)
