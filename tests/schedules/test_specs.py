"""Spec validation: every rule refuses with an error that names the offending field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from lrhub.schedules import (
    ExpressionError,
    ScheduleError,
    Spec,
    SpecAdapter,
    SpecError,
    decide,
    needs_steps_per_epoch,
    parse_spec,
    spec_to_json,
)
from lrhub.schedules.specs import ConstantSpec

EXPONENTIAL = {
    "type": "exponential_decay",
    "initial_learning_rate": 0.1,
    "decay_steps": 10,
    "decay_rate": 0.9,
}
PLATEAU = {"type": "reduce_on_plateau", "monitor": "val_loss", "initial_learning_rate": 0.1}
CONSTANT = {"type": "constant", "learning_rate": 0.1}


def _with(original: dict[str, Any], /, **changes: Any) -> dict[str, Any]:
    return {**original, **changes}


def _nested(depth: int) -> dict[str, Any]:
    spec: dict[str, Any] = CONSTANT
    for _ in range(depth - 1):
        spec = {"type": "reduce_on_plateau", "monitor": "val_loss", "base": spec}
    return spec


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown type", {"type": "warp_drive"}, "type", "does not match"),
    ("missing type", {"learning_rate": 0.1}, "type", "type"),
    ("extra field", _with(CONSTANT, colour="red"), "colour", "Extra inputs"),
    ("decay_steps zero", _with(EXPONENTIAL, decay_steps=0), "decay_steps", "greater than 0"),
    ("decay_steps negative", _with(EXPONENTIAL, decay_steps=-3), "decay_steps", "greater than 0"),
    (
        "rate negative",
        _with(EXPONENTIAL, initial_learning_rate=-0.1),
        "initial_learning_rate",
        "greater than or equal to 0",
    ),
    ("rate infinite", _with(CONSTANT, learning_rate=float("inf")), "learning_rate", "finite"),
    ("rate nan", _with(CONSTANT, learning_rate=float("nan")), "learning_rate", "finite"),
    ("rate as string", _with(CONSTANT, learning_rate="0.1"), "learning_rate", "number"),
    ("rate as bool", _with(CONSTANT, learning_rate=True), "learning_rate", "number"),
    ("unit unknown", _with(CONSTANT, unit="batch"), "unit", "'epoch' or 'step'"),
    ("factor one", _with(PLATEAU, factor=1.0), "factor", "less than 1"),
    ("factor zero", _with(PLATEAU, factor=0.0), "factor", "greater than 0"),
    ("patience negative", _with(PLATEAU, patience=-1), "patience", "greater than or equal"),
    ("patience fractional", _with(PLATEAU, patience=2.5), "patience", "integer"),
    ("mode unknown", _with(PLATEAU, mode="sideways"), "mode", "'min' or 'max'"),
    ("mode auto unresolvable", _with(PLATEAU, monitor="f1", mode="auto"), "mode", "up or down"),
    (
        "neither rate nor base",
        {"type": "reduce_on_plateau", "monitor": "val_loss"},
        "initial_learning_rate",
        "give initial_learning_rate or base",
    ),
    ("both rate and base", _with(PLATEAU, base=CONSTANT), "initial_learning_rate", "not both"),
    ("semantics unknown", _with(PLATEAU, semantics="jax"), "semantics", "'keras' or 'torch'"),
    (
        "abs threshold with keras",
        _with(PLATEAU, threshold_mode="abs"),
        "threshold_mode",
        "needs semantics 'torch'",
    ),
    (
        "threshold_mode unknown",
        _with(PLATEAU, threshold_mode="pct", semantics="torch"),
        "threshold_mode",
        "'rel' or 'abs'",
    ),
    ("restart_after zero", _with(PLATEAU, restart_after=0), "restart_after", "greater than 0"),
    ("monitor empty", _with(PLATEAU, monitor=""), "monitor", "at least 1"),
    (
        "boundaries not increasing",
        {"type": "piecewise_constant_decay", "boundaries": [5, 5], "values": [1.0, 0.5, 0.1]},
        "boundaries",
        "strictly increasing",
    ),
    (
        "values count",
        {"type": "piecewise_constant_decay", "boundaries": [5, 10], "values": [1.0, 0.5]},
        "values",
        "3 values, got 2",
    ),
    (
        "milestones decreasing",
        {"type": "multi_step", "initial_learning_rate": 0.1, "milestones": [5, 3]},
        "milestones",
        "increasing",
    ),
    (
        "milestone negative",
        {"type": "multi_step", "initial_learning_rate": 0.1, "milestones": [-1]},
        "milestones.0",
        "greater than or equal",
    ),
    (
        "alpha above one",
        {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 5, "alpha": 2},
        "alpha",
        "less than or equal to 1",
    ),
    (
        "warmup without target",
        {"type": "cosine_decay", "initial_learning_rate": 0.1, "decay_steps": 5, "warmup_steps": 3},
        "warmup_steps",
        "warmup_target",
    ),
    (
        "first_decay_steps zero",
        {"type": "cosine_decay_restarts", "initial_learning_rate": 0.1, "first_decay_steps": 0},
        "first_decay_steps",
        "greater than 0",
    ),
    (
        "step_decay every zero",
        {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 0},
        "every",
        "greater than 0",
    ),
    (
        "linear duration zero",
        {"type": "linear", "start_learning_rate": 0, "end_learning_rate": 0.1, "duration": 0},
        "duration",
        "greater than 0",
    ),
    (
        "cyclic mode unknown",
        {
            "type": "cyclic",
            "base_learning_rate": 0.01,
            "max_learning_rate": 0.1,
            "step_size_up": 4,
            "mode": "square",
        },
        "mode",
        "triangular",
    ),
    (
        "one_cycle total_steps zero",
        {"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 0},
        "total_steps",
        "greater than 0",
    ),
    (
        "one_cycle empty warm-up",
        {"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 3},
        "pct_start",
        "at least one step",
    ),
    (
        "one_cycle three phases too long",
        {
            "type": "one_cycle",
            "max_learning_rate": 0.1,
            "total_steps": 100,
            "three_phase": True,
            "pct_start": 0.6,
        },
        "pct_start",
        "at least one step",
    ),
    (
        "ramp exp_decay above one",
        {
            "type": "ramp_hold_decay",
            "start_learning_rate": 0.0001,
            "max_learning_rate": 0.001,
            "min_learning_rate": 0.00001,
            "rampup": 10,
            "exp_decay": 1.5,
        },
        "exp_decay",
        "less than",
    ),
    ("sequence empty", {"type": "sequence", "stages": []}, "stages", "at least 1"),
    (
        "sequence middle stage open",
        {"type": "sequence", "stages": [{"schedule": CONSTANT}, {"schedule": CONSTANT}]},
        "stages",
        "stage 0 needs a duration",
    ),
    (
        "sequence last stage closed",
        {"type": "sequence", "stages": [{"schedule": CONSTANT, "duration": 3}]},
        "stages",
        "must be null",
    ),
    (
        "sequence duration zero",
        {
            "type": "sequence",
            "stages": [{"schedule": CONSTANT, "duration": 0}, {"schedule": CONSTANT}],
        },
        "stages.0.duration",
        "greater than 0",
    ),
    (
        "nested field",
        {
            "type": "sequence",
            "stages": [
                {"schedule": _with(PLATEAU, factor=2), "duration": 2},
                {"schedule": CONSTANT},
            ],
        },
        "stages.0.schedule.factor",
        "less than 1",
    ),
    (
        "nested base field",
        _with(PLATEAU, initial_learning_rate=None, base=_with(EXPONENTIAL, decay_rate=0)),
        "base.decay_rate",
        "greater than 0",
    ),
    ("nesting too deep", _nested(9), "base", "the limit is 8"),
    (
        "unknown transformers kwarg",
        {"type": "transformers", "scheduler": "cosine", "learning_rate": 0.1, "kwargs": {"x": 1}},
        "kwargs",
        "x: Extra inputs are not permitted",
    ),
    (
        "transformers type needs training steps",
        {"type": "transformers", "scheduler": "linear", "learning_rate": 0.1},
        "",
        "linear needs num_training_steps",
    ),
    (
        "transformers min_lr xor min_lr_rate",
        {
            "type": "transformers",
            "scheduler": "cosine_with_min_lr",
            "learning_rate": 0.1,
            "num_training_steps": 10,
        },
        "kwargs",
        "exactly one of min_lr or min_lr_rate",
    ),
    (
        "timm kwarg of the wrong type",
        {"type": "timm", "scheduler": "cosine", "learning_rate": 0.1, "kwargs": {"t_initial": 0}},
        "kwargs",
        "t_initial: Input should be greater than 0",
    ),
    (
        "timm noise is refused",
        {
            "type": "timm",
            "scheduler": "step",
            "learning_rate": 0.1,
            "kwargs": {"decay_t": 3, "noise_range_t": 5},
        },
        "kwargs",
        "noise_range_t: Extra inputs are not permitted",
    ),
    (
        "timm plateau needs a monitor",
        {"type": "timm", "scheduler": "plateau", "learning_rate": 0.1},
        "monitor",
        "plateau needs the metric",
    ),
    ("product without factors", {"type": "product", "factors": []}, "factors", "at least 1"),
    (
        "product factor field",
        {"type": "product", "factors": [CONSTANT, _with(EXPONENTIAL, decay_rate=0)]},
        "factors.1.decay_rate",
        "greater than 0",
    ),
]


@pytest.mark.parametrize(
    ("data", "loc", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_spec_names_the_field(data: dict[str, Any], loc: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    errors = caught.value.errors
    assert any(e["loc"] == loc for e in errors), errors
    message = next(e["msg"] for e in errors if e["loc"] == loc)
    assert fragment in message, message
    assert loc in str(caught.value)


def test_nesting_at_the_limit_is_accepted() -> None:
    spec = parse_spec(_nested(8))
    assert spec.type == "reduce_on_plateau"


def test_refused_expression_raises_expression_error_at_its_path() -> None:
    data = {
        "type": "sequence",
        "stages": [
            {"schedule": CONSTANT, "duration": 2},
            {"schedule": {"type": "expression", "expression": "a.b", "initial_learning_rate": 1}},
        ],
    }
    with pytest.raises(ExpressionError) as caught:
        parse_spec(data)
    assert caught.value.errors == [
        {"loc": "stages.1.schedule.expression", "msg": "attribute access is not allowed"}
    ]
    assert isinstance(caught.value, SpecError)
    assert isinstance(caught.value, ScheduleError)


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_accuracy", "max"),
        ("acc", "max"),
        ("val_auc", "max"),
        ("VAL_LOSS", "min"),
    ],
)
def test_mode_auto_resolves_from_the_monitor_name(monitor: str, mode: str) -> None:
    spec = parse_spec(_with(PLATEAU, monitor=monitor, mode="auto"))
    assert spec_to_json(spec)["mode"] == mode


def test_defaults_follow_design() -> None:
    plateau = spec_to_json(parse_spec(PLATEAU))
    assert plateau == {
        "unit": "epoch",
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "factor": 0.1,
        "patience": 10,
        "mode": "min",
        "min_delta": 1e-4,
        "cooldown": 0,
        "min_lr": 0.0,
        "base": None,
        "initial_learning_rate": 0.1,
        "semantics": "keras",
        "threshold_mode": "rel",
        "restart_after": None,
        "stop_patience": None,
    }
    one_cycle = spec_to_json(
        parse_spec({"type": "one_cycle", "max_learning_rate": 1, "total_steps": 100})
    )
    assert one_cycle["pct_start"] == 0.3
    assert one_cycle["anneal_strategy"] == "cos"
    assert one_cycle["div_factor"] == 25
    assert one_cycle["final_div_factor"] == 1e4
    assert one_cycle["three_phase"] is False
    polynomial = spec_to_json(
        parse_spec({"type": "polynomial_decay", "initial_learning_rate": 1, "decay_steps": 3})
    )
    assert (polynomial["end_learning_rate"], polynomial["power"], polynomial["cycle"]) == (
        1e-4,
        1.0,
        False,
    )
    cyclic = spec_to_json(
        parse_spec(
            {
                "type": "cyclic",
                "base_learning_rate": 0.01,
                "max_learning_rate": 0.1,
                "step_size_up": 5,
            }
        )
    )
    assert (cyclic["step_size_down"], cyclic["mode"], cyclic["gamma"]) == (None, "triangular", 1)


def test_canonical_json_round_trips() -> None:
    data = {
        "type": "sequence",
        "unit": "step",
        "stages": [
            {
                "schedule": {
                    "type": "linear",
                    "unit": "step",
                    "start_learning_rate": 0,
                    "end_learning_rate": 0.1,
                    "duration": 100,
                },
                "duration": 100,
            },
            {
                "schedule": _with(
                    PLATEAU,
                    initial_learning_rate=None,
                    mode="auto",
                    base={
                        "type": "cosine_decay",
                        "initial_learning_rate": 0.1,
                        "decay_steps": 1000,
                        "unit": "step",
                    },
                )
            },
        ],
    }
    canonical = spec_to_json(parse_spec(data))
    assert spec_to_json(parse_spec(canonical)) == canonical
    assert canonical["stages"][1]["schedule"]["mode"] == "min"
    assert canonical["stages"][1]["schedule"]["base"]["alpha"] == 0.0


def test_library_specs_fill_the_libraries_defaults() -> None:
    transformers = parse_spec(
        {
            "type": "transformers",
            "scheduler": "warmup_stable_decay",
            "learning_rate": 0.1,
            "num_training_steps": 100,
            "kwargs": {"num_decay_steps": 20},
        }
    )
    canonical = spec_to_json(transformers)
    assert canonical["unit"] == "step"
    assert canonical["kwargs"]["decay_type"] == "cosine"
    assert canonical["kwargs"]["warmup_type"] == "linear"
    assert spec_to_json(parse_spec(canonical)) == canonical
    timm = spec_to_json(
        parse_spec(
            {
                "type": "timm",
                "scheduler": "cosine",
                "learning_rate": 0.1,
                "kwargs": {"t_initial": 10},
            }
        )
    )
    assert timm["unit"] == "epoch"
    assert timm["kwargs"]["cycle_limit"] == 1 and timm["kwargs"]["warmup_prefix"] is False
    assert spec_to_json(parse_spec(timm)) == timm


def test_product_keeps_each_factors_state() -> None:
    """A plateau factor reduces as it would alone; the other factor multiplies every rate."""
    plateau = _with(PLATEAU, patience=0, factor=0.5, monitor="loss")
    product = parse_spec(
        {"type": "product", "factors": [plateau, _with(EXPONENTIAL, initial_learning_rate=1.0)]}
    )
    alone, multiplier = (
        parse_spec(plateau),
        parse_spec(_with(EXPONENTIAL, initial_learning_rate=1.0)),
    )
    state: dict[str, Any] | None = None
    plateau_state: dict[str, Any] | None = None
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 0.5, 0.5]):
        metrics = {"loss": loss} if epoch else None
        decision = decide(product, state, epoch=epoch, metrics=metrics)
        single = decide(alone, plateau_state, epoch=epoch, metrics=metrics)
        factor = decide(multiplier, None, epoch=epoch).learning_rate
        assert decision.learning_rate == single.learning_rate * factor
        assert decision.reductions == single.reductions
        state = json.loads(json.dumps(decision.state))
        plateau_state = single.state
    assert single.learning_rate < 0.1  # the plateau did reduce


def test_specs_are_frozen() -> None:
    spec = parse_spec(CONSTANT)
    assert isinstance(spec, ConstantSpec)
    with pytest.raises(ValidationError):
        spec.learning_rate = 1.0  # type: ignore[misc]


def test_spec_embeds_in_another_model() -> None:
    class Request(BaseModel):
        spec: Spec

    request = Request.model_validate({"spec": EXPONENTIAL})
    assert request.spec.type == "exponential_decay"
    with pytest.raises(ValidationError) as caught:
        Request.model_validate({"spec": _with(EXPONENTIAL, decay_steps=0)})
    assert caught.value.errors()[0]["loc"][-1] == "decay_steps"
    assert SpecAdapter.validate_python(CONSTANT) == parse_spec(CONSTANT)


@pytest.mark.parametrize(
    ("data", "needs"),
    [
        (CONSTANT, False),
        (_with(CONSTANT, unit="step"), True),
        (
            {
                "type": "expression",
                "expression": "0.1 if step < 10 else 0.01",
                "initial_learning_rate": 0.1,
            },
            True,
        ),
        (
            {"type": "expression", "expression": "prev_lr * 0.9", "initial_learning_rate": 0.1},
            False,
        ),
        (
            {
                "type": "sequence",
                "stages": [
                    {"schedule": CONSTANT, "duration": 1},
                    {"schedule": _with(CONSTANT, unit="step")},
                ],
            },
            True,
        ),
        (_with(PLATEAU, initial_learning_rate=None, base=_with(EXPONENTIAL, unit="step")), True),
    ],
)
def test_needs_steps_per_epoch(data: dict[str, Any], needs: bool) -> None:
    assert needs_steps_per_epoch(parse_spec(data)) is needs
