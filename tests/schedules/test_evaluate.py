"""decide(): every family at hand-checked points, per-step rates, plateau state, clock, state."""

from __future__ import annotations

import copy
import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import pytest

from lrhub.schedules import Decision, EvaluationError, decide, parse_spec


def rate(data: dict[str, Any], t: int) -> float:
    """The rate of a stateless spec at epoch t (fresh state)."""
    return decide(parse_spec(data), None, epoch=t).learning_rate


def f32(value: float) -> float:
    """value stored in a float32 variable and read back."""
    stored: float = struct.unpack("f", struct.pack("f", value))[0]
    return stored


EXPONENTIAL = {
    "type": "exponential_decay",
    "initial_learning_rate": 0.1,
    "decay_steps": 10,
    "decay_rate": 0.5,
}
POLYNOMIAL = {
    "type": "polynomial_decay",
    "initial_learning_rate": 1.0,
    "decay_steps": 10,
    "end_learning_rate": 0.0,
    "power": 2,
}
COSINE = {"type": "cosine_decay", "initial_learning_rate": 1.0, "decay_steps": 10}
WARMUP_COSINE = {**COSINE, "initial_learning_rate": 0.0, "warmup_target": 1.0, "warmup_steps": 4}
RESTARTS = {
    "type": "cosine_decay_restarts",
    "initial_learning_rate": 1.0,
    "first_decay_steps": 10,
    "t_mul": 2.0,
    "m_mul": 0.5,
}
CYCLIC = {"type": "cyclic", "base_learning_rate": 0.1, "max_learning_rate": 1.0, "step_size_up": 2}
ONE_CYCLE = {
    "type": "one_cycle",
    "max_learning_rate": 1.0,
    "total_steps": 10,
    "pct_start": 0.5,
    "div_factor": 10.0,
    "final_div_factor": 100.0,
}
RAMP = {
    "type": "ramp_hold_decay",
    "start_learning_rate": 0.0001,
    "max_learning_rate": 0.001,
    "min_learning_rate": 0.00001,
    "rampup": 10,
    "sustain": 2,
    "exp_decay": 0.5,
}

HAND_CHECKED: list[tuple[str, dict[str, Any], int, float]] = [
    ("constant", {"type": "constant", "learning_rate": 0.1}, 37, 0.1),
    ("exponential at 0", EXPONENTIAL, 0, 0.1),
    ("exponential half period", EXPONENTIAL, 5, 0.1 * math.sqrt(0.5)),
    ("exponential one period", EXPONENTIAL, 10, 0.05),
    ("exponential staircase", {**EXPONENTIAL, "staircase": True}, 19, 0.05),
    ("exponential staircase step", {**EXPONENTIAL, "staircase": True}, 20, 0.025),
    (
        "inverse time",
        {
            "type": "inverse_time_decay",
            "initial_learning_rate": 0.1,
            "decay_steps": 1,
            "decay_rate": 0.5,
        },
        2,
        0.05,
    ),
    (
        "inverse time staircase",
        {
            "type": "inverse_time_decay",
            "initial_learning_rate": 0.1,
            "decay_steps": 3,
            "decay_rate": 0.5,
            "staircase": True,
        },
        5,
        0.1 / 1.5,
    ),
    (
        "piecewise upper bound inclusive",
        {"type": "piecewise_constant_decay", "boundaries": [3, 10], "values": [1.0, 0.5, 0.1]},
        3,
        1.0,
    ),
    (
        "piecewise middle",
        {"type": "piecewise_constant_decay", "boundaries": [3, 10], "values": [1.0, 0.5, 0.1]},
        10,
        0.5,
    ),
    (
        "piecewise last",
        {"type": "piecewise_constant_decay", "boundaries": [3, 10], "values": [1.0, 0.5, 0.1]},
        11,
        0.1,
    ),
    ("polynomial half way", POLYNOMIAL, 5, 0.25),
    ("polynomial held at end", POLYNOMIAL, 20, 0.0),
    ("polynomial cycle start", {**POLYNOMIAL, "cycle": True}, 0, 1.0),
    ("polynomial cycle second period", {**POLYNOMIAL, "cycle": True}, 15, 0.0625),
    ("cosine half way", COSINE, 5, 0.5),
    ("cosine end", COSINE, 10, 0.0),
    ("cosine held", {**COSINE, "alpha": 0.1}, 30, 0.1),
    ("cosine warm-up", WARMUP_COSINE, 2, 0.5),
    ("cosine warm-up top", WARMUP_COSINE, 4, 1.0),
    ("cosine after warm-up", WARMUP_COSINE, 9, 0.5),
    ("cosine after warm-up held", WARMUP_COSINE, 100, 0.0),
    ("restarts first period", RESTARTS, 5, 0.5),
    ("restarts second start", RESTARTS, 10, 0.5),
    ("restarts second middle", RESTARTS, 20, 0.25),
    ("restarts third start", RESTARTS, 30, 0.25),
    (
        "step decay before drop",
        {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10},
        9,
        0.1,
    ),
    (
        "step decay drop",
        {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10},
        10,
        0.05,
    ),
    (
        "step decay offset",
        {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10, "offset": 1},
        9,
        0.05,
    ),
    (
        "multi step before",
        {"type": "multi_step", "initial_learning_rate": 0.1, "milestones": [2, 5, 5]},
        1,
        0.1,
    ),
    (
        "multi step first",
        {"type": "multi_step", "initial_learning_rate": 0.1, "milestones": [2, 5, 5]},
        2,
        0.1 * 0.1,
    ),
    (
        "multi step repeated milestone",
        {"type": "multi_step", "initial_learning_rate": 0.1, "milestones": [2, 5, 5]},
        5,
        0.1 * 0.1**3,
    ),
    (
        "linear ramp",
        {"type": "linear", "start_learning_rate": 0.0, "end_learning_rate": 0.1, "duration": 4},
        1,
        0.025,
    ),
    (
        "linear held",
        {"type": "linear", "start_learning_rate": 0.0, "end_learning_rate": 0.1, "duration": 4},
        10,
        0.1,
    ),
    ("cyclic start", CYCLIC, 0, 0.1),
    ("cyclic rising", CYCLIC, 1, 0.55),
    ("cyclic peak", CYCLIC, 2, 1.0),
    ("cyclic falling", CYCLIC, 3, 0.55),
    ("cyclic next cycle", CYCLIC, 4, 0.1),
    ("cyclic triangular2 halves", {**CYCLIC, "mode": "triangular2"}, 6, 0.55),
    ("cyclic exp_range", {**CYCLIC, "mode": "exp_range", "gamma": 0.5}, 2, 0.1 + 0.9 * 0.25),
    ("cyclic asymmetric", {**CYCLIC, "step_size_down": 4}, 4, 0.55),
    ("one cycle start", ONE_CYCLE, 0, 0.1),
    ("one cycle cos middle of warm-up", ONE_CYCLE, 2, 0.55),
    ("one cycle peak", ONE_CYCLE, 4, 1.0),
    ("one cycle end", ONE_CYCLE, 9, 0.001),
    ("one cycle held beyond total_steps", ONE_CYCLE, 100, 0.001),
    ("one cycle linear", {**ONE_CYCLE, "anneal_strategy": "linear"}, 1, 0.1 + 0.9 / 4),
    (
        "one cycle three phases back to initial",
        {**ONE_CYCLE, "total_steps": 20, "pct_start": 0.25, "three_phase": True},
        8,
        0.1,
    ),
    ("ramp rising", RAMP, 5, 0.00055),
    ("ramp top", RAMP, 10, 0.001),
    ("ramp sustained", RAMP, 11, 0.001),
    ("ramp decay starts at max", RAMP, 12, 0.001),
    ("ramp decaying", RAMP, 13, 0.00099 * 0.5 + 0.00001),
]


@pytest.mark.parametrize(
    ("data", "t", "expected"),
    [case[1:] for case in HAND_CHECKED],
    ids=[case[0] for case in HAND_CHECKED],
)
def test_stateless_family_at_hand_checked_point(
    data: dict[str, Any], t: int, expected: float
) -> None:
    assert rate(data, t) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_sequence_restarts_each_stage_clock() -> None:
    spec = parse_spec(
        {
            "type": "sequence",
            "stages": [
                {
                    "schedule": {
                        "type": "linear",
                        "start_learning_rate": 0.0,
                        "end_learning_rate": 1.0,
                        "duration": 2,
                    },
                    "duration": 2,
                },
                {
                    "schedule": {
                        "type": "exponential_decay",
                        "initial_learning_rate": 1.0,
                        "decay_steps": 1,
                        "decay_rate": 0.5,
                    }
                },
            ],
        }
    )
    state: dict[str, Any] = {}
    rates = []
    for epoch in range(5):
        decision = decide(spec, state, epoch=epoch)
        state = decision.state
        rates.append(decision.learning_rate)
    assert rates == [0.0, 0.5, 1.0, 0.5, 0.25]
    assert "stage 2/2" in decision.reason


def test_step_unit_gives_the_epochs_rates_by_global_step() -> None:
    spec = parse_spec(
        {
            "type": "linear",
            "unit": "step",
            "start_learning_rate": 0.0,
            "end_learning_rate": 1.0,
            "duration": 10,
        }
    )
    decision = decide(spec, None, epoch=1, steps_per_epoch=4)
    assert decision.step_learning_rates is not None
    assert decision.step_learning_rates == pytest.approx([0.4, 0.5, 0.6, 0.7])
    assert decision.learning_rate == decision.step_learning_rates[0]


def test_epoch_unit_with_steps_per_epoch_repeats_the_rate() -> None:
    decision = decide(parse_spec(EXPONENTIAL), None, epoch=10, steps_per_epoch=3)
    assert decision.step_learning_rates == [0.05, 0.05, 0.05]


def test_step_unit_without_steps_per_epoch_is_an_evaluation_error() -> None:
    spec = parse_spec({**EXPONENTIAL, "unit": "step"})
    with pytest.raises(EvaluationError, match="steps_per_epoch"):
        decide(spec, None, epoch=0)


def test_step_sequence_switches_stage_mid_epoch() -> None:
    spec = parse_spec(
        {
            "type": "sequence",
            "unit": "step",
            "stages": [
                {"schedule": {"type": "constant", "learning_rate": 1.0}, "duration": 3},
                {
                    "schedule": {
                        "type": "linear",
                        "unit": "step",
                        "start_learning_rate": 2.0,
                        "end_learning_rate": 0.0,
                        "duration": 4,
                    }
                },
            ],
        }
    )
    first = decide(spec, None, epoch=0, steps_per_epoch=4)
    assert first.step_learning_rates == [1.0, 1.0, 1.0, 2.0]
    second = decide(spec, first.state, epoch=1, steps_per_epoch=4)
    assert second.step_learning_rates == [1.5, 1.0, 0.5, 0.0]


def test_clock_origin_restarts_t() -> None:
    spec = parse_spec(EXPONENTIAL)
    assert decide(spec, None, epoch=25, clock_origin=15).learning_rate == pytest.approx(0.05)
    with pytest.raises(EvaluationError, match="before the clock origin"):
        decide(spec, None, epoch=3, clock_origin=4)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"epoch": -1}, "epoch must be >= 0"), ({"epoch": 0, "steps_per_epoch": 0}, ">= 1")],
)
def test_bad_arguments_are_evaluation_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(EvaluationError, match=fragment):
        decide(parse_spec(EXPONENTIAL), None, **kwargs)


# --- reduce_on_plateau ---------------------------------------------------------------------------


def plateau(**fields: Any) -> Any:
    return parse_spec({"type": "reduce_on_plateau", "monitor": "val_loss", **fields})


def run(spec: Any, losses: Sequence[float | None], **kwargs: Any) -> list[Decision]:
    """Decide epochs 0..len(losses); losses[i] is reported at the end of epoch i (None: absent)."""
    decisions = [decide(spec, None, epoch=0, **kwargs)]
    for epoch, loss in enumerate(losses, start=1):
        metrics = {"loss": 1.0} if loss is None else {"val_loss": loss}
        decisions.append(decide(spec, decisions[-1].state, epoch=epoch, metrics=metrics, **kwargs))
    return decisions


def test_keras_plateau_reduces_after_patience_epochs() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=2)
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0, 1.0])
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    assert [d.reductions for d in decisions] == [0, 0, 0, 1, 0, 1]
    assert decisions[3].reason == "val_loss did not improve for 2 epochs: 1 -> 0.5"
    assert decisions[3].state["wait"] == 0
    assert decisions[1].state["best"] == 1.0


def test_keras_plateau_min_delta_is_absolute() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=1, min_delta=0.1)
    decisions = run(spec, [1.0, 0.95, 0.85])
    # 0.95 is not 0.1 better than 1.0: reduce; 0.85 is better than 1.0 by more than 0.1.
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 0.5, 0.5]
    assert decisions[3].state["best"] == 0.85


def test_keras_plateau_cooldown_is_decremented_before_the_improvement_test() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=1, cooldown=2)
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # Reduce at epoch 2; the counter drops to 1 before the test of the next metric, so
    # cooldown=2 holds off only one epoch, as in Keras.
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_keras_plateau_reads_the_rate_back_as_float32() -> None:
    spec = plateau(initial_learning_rate=0.1, factor=0.5, patience=0)
    decisions = run(spec, [1.0, 1.0])
    assert decisions[2].learning_rate == f32(0.1) * 0.5
    assert decisions[2].learning_rate != 0.05


def test_keras_plateau_compares_metrics_in_float32() -> None:
    # keras.ops.less converts both sides to float32: a gain of 1e-10 on 0.1 is no gain there.
    keras = plateau(initial_learning_rate=1.0, factor=0.5, patience=0, min_delta=0.0)
    torch = plateau(
        initial_learning_rate=1.0, factor=0.5, patience=0, min_delta=0.0, semantics="torch"
    )
    losses = [0.1, 0.1 - 1e-10]
    assert run(keras, losses)[-1].learning_rate == 0.5
    assert run(torch, losses)[-1].learning_rate == 1.0


def test_keras_plateau_min_lr_floor_and_no_reset_without_reduction() -> None:
    spec = plateau(initial_learning_rate=0.01, factor=0.2, patience=1, min_lr=0.001)
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0, 1.0])
    assert decisions[-1].learning_rate == 0.001
    # Keras keeps counting when it cannot reduce any further.
    assert decisions[-1].state["wait"] == 2
    assert "min_lr" in decisions[-1].reason


def test_torch_plateau_needs_more_than_patience_bad_epochs() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=2, semantics="torch")
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0])
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 1.0, 1.0, 0.5]


def test_torch_plateau_relative_threshold() -> None:
    spec = plateau(
        initial_learning_rate=1.0, factor=0.5, patience=0, semantics="torch", min_delta=0.1
    )
    decisions = run(spec, [1.0, 0.95, 0.85])
    # 0.95 is not below 1.0 * 0.9: reduce; 0.85 is below 0.9: improvement.
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 0.5, 0.5]


def test_missing_metric_leaves_plateau_state_unchanged() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=1)
    decisions = run(spec, [1.0, None, None, 1.0])
    assert decisions[2].state == decisions[1].state
    assert decisions[3].state == decisions[1].state
    assert "val_loss was not reported" in decisions[2].reason
    assert decisions[4].learning_rate == 0.5


def test_non_finite_metric_is_never_an_improvement() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=2)
    decisions = run(spec, [math.nan, 1.0, math.inf, math.inf])
    assert (decisions[1].state["best"], decisions[1].state["wait"]) == (None, 1)
    assert (decisions[2].state["best"], decisions[2].state["wait"]) == (1.0, 0)
    assert decisions[4].learning_rate == 0.5
    json.dumps(decisions[4].state, allow_nan=False)


def test_plateau_on_a_base_schedule_scales_it() -> None:
    spec = plateau(
        factor=0.5,
        patience=1,
        min_lr=0.01,
        base={
            "type": "exponential_decay",
            "initial_learning_rate": 1.0,
            "decay_steps": 1,
            "decay_rate": 0.5,
        },
    )
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0, 1.0])
    rates = [d.learning_rate for d in decisions]
    assert rates[:2] == [1.0, 0.5]
    assert rates[2] == pytest.approx(0.25 * 0.5)
    assert rates[3] == pytest.approx(0.125 * 0.25)
    assert rates[5] == 0.01  # max(base * factor^reductions, min_lr)


def test_plateau_on_a_step_base_gives_scaled_step_rates() -> None:
    spec = plateau(
        factor=0.5,
        patience=0,
        base={
            "type": "linear",
            "unit": "step",
            "start_learning_rate": 0.0,
            "end_learning_rate": 1.0,
            "duration": 4,
        },
    )
    first = decide(spec, None, epoch=0, steps_per_epoch=2)
    assert first.step_learning_rates == [0.0, 0.25]
    second = decide(spec, first.state, epoch=1, steps_per_epoch=2, metrics={"val_loss": 1.0})
    third = decide(spec, second.state, epoch=2, steps_per_epoch=2, metrics={"val_loss": 1.0})
    assert third.step_learning_rates == [0.5, 0.5]
    assert third.reductions == 1


def test_restart_after_restores_the_initial_rate() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=0, restart_after=2)
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0, 1.0])
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 0.5, 0.25, 1.0, 0.5]
    assert "restored" in decisions[4].reason
    assert decisions[4].reductions == 0
    assert decisions[4].state["reductions"] == 0


def test_stop_patience_answers_stop_at_min_lr() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=0, min_lr=0.5, stop_patience=2)
    decisions = run(spec, [1.0, 1.0, 1.0, 0.9, 0.9, 0.9])
    assert [d.learning_rate for d in decisions] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    # epoch 3: first bad epoch at min_lr; epoch 4 improves (reset); epochs 5, 6 are bad.
    assert [d.stop for d in decisions] == [False, False, False, False, False, False, True]
    assert "stop" in decisions[6].reason


def test_plateau_stage_ignores_metrics_of_the_previous_stage() -> None:
    spec = parse_spec(
        {
            "type": "sequence",
            "stages": [
                {"schedule": {"type": "constant", "learning_rate": 0.1}, "duration": 2},
                {
                    "schedule": {
                        "type": "reduce_on_plateau",
                        "monitor": "val_loss",
                        "initial_learning_rate": 1.0,
                        "factor": 0.5,
                        "patience": 0,
                    }
                },
            ],
        }
    )
    decisions = run(spec, [1.0, 1.0, 1.0, 1.0])
    assert [d.learning_rate for d in decisions] == [0.1, 0.1, 1.0, 1.0, 0.5]


# --- state, purity ------------------------------------------------------------------------------


def test_decide_does_not_mutate_its_inputs_and_is_deterministic() -> None:
    spec = plateau(initial_learning_rate=1.0, factor=0.5, patience=0)
    state = decide(spec, None, epoch=1, metrics={"val_loss": 1.0}).state
    metrics = {"val_loss": 2.0}
    frozen_state, frozen_metrics = copy.deepcopy(state), dict(metrics)
    first = decide(spec, state, epoch=2, metrics=metrics)
    second = decide(spec, state, epoch=2, metrics=metrics)
    assert state == frozen_state and metrics == frozen_metrics
    assert first == second
    assert first.learning_rate == 0.5


def test_gap_is_decided_from_the_state_as_it_is() -> None:
    spec = parse_spec(
        {"type": "expression", "expression": "prev_lr * 0.5", "initial_learning_rate": 1.0}
    )
    at_two = decide(spec, decide(spec, None, epoch=0).state, epoch=1)
    assert at_two.learning_rate == 0.25
    after_gap = decide(spec, at_two.state, epoch=7)
    assert after_gap.learning_rate == 0.125


def test_states_are_plain_json() -> None:
    spec = parse_spec(
        {
            "type": "sequence",
            "stages": [
                {
                    "schedule": {
                        "type": "expression",
                        "expression": "prev_lr * 0.9",
                        "initial_learning_rate": 0.1,
                    },
                    "duration": 2,
                },
                {
                    "schedule": {
                        "type": "reduce_on_plateau",
                        "monitor": "val_loss",
                        "base": {"type": "constant", "learning_rate": 0.1},
                    }
                },
            ],
        }
    )
    state: dict[str, Any] = {}
    for epoch in range(4):
        decision = decide(spec, state, epoch=epoch, metrics={"val_loss": 1.0 / (epoch + 1)})
        state = json.loads(json.dumps(decision.state, allow_nan=False))
        assert state == decision.state
