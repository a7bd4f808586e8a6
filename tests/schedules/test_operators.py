"""The operator's settings over the schedule's decision: override, pause, scale, stop."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lrhub.schedules import (
    Decision,
    EvaluationError,
    OperatorSettings,
    answer_epoch,
    apply_operator_settings,
    decide,
    parse_spec,
)

SPEC = parse_spec({"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 1,
                   "decay_rate": 0.5, "unit": "step"})  # fmt: skip


def decision_of_epoch_1() -> Decision:
    return decide(SPEC, None, epoch=1, steps_per_epoch=3)


def test_no_settings_answer_the_schedule_itself() -> None:
    decision = decision_of_epoch_1()
    answer = apply_operator_settings(decision, OperatorSettings())
    assert answer.learning_rate == decision.learning_rate == pytest.approx(0.1 * 0.5**3)
    assert answer.step_learning_rates == decision.step_learning_rates
    assert (answer.reason, answer.stop) == (decision.reason, False)


def test_scale_multiplies_every_step() -> None:
    decision = decision_of_epoch_1()
    answer = apply_operator_settings(decision, OperatorSettings(scale=0.5))
    assert answer.step_learning_rates == [r * 0.5 for r in decision.step_learning_rates or []]
    assert answer.learning_rate == decision.learning_rate * 0.5
    assert "scaled x0.5" in answer.reason


def test_override_beats_pause_and_scale() -> None:
    settings = OperatorSettings(scale=3.0, override=0.007, paused=True, held_rate=0.02)
    answer = apply_operator_settings(decision_of_epoch_1(), settings)
    assert answer.learning_rate == 0.007
    assert answer.step_learning_rates == [0.007] * 3
    assert "fixed rate 0.007" in answer.reason


def test_pause_holds_the_held_rate_and_ignores_scale() -> None:
    answer = apply_operator_settings(
        decision_of_epoch_1(), OperatorSettings(scale=3.0, paused=True, held_rate=0.02)
    )
    assert answer.learning_rate == 0.02
    assert answer.step_learning_rates == [0.02] * 3
    assert answer.reason.startswith("paused: holding 0.02")


def test_pause_without_a_held_rate_follows_the_schedule() -> None:
    decision = decision_of_epoch_1()
    answer = apply_operator_settings(decision, OperatorSettings(paused=True))
    assert answer.learning_rate == decision.learning_rate


def test_stopped_jobs_are_told_to_stop_and_why() -> None:
    answer = apply_operator_settings(decision_of_epoch_1(), OperatorSettings(stopped=True))
    assert answer.stop is True
    assert answer.reason.startswith("job stopped by an operator")


def test_a_scale_that_makes_the_rate_overflow_is_an_evaluation_error() -> None:
    huge = parse_spec({"type": "constant", "learning_rate": 1e308})
    with pytest.raises(EvaluationError, match="not a finite number"):
        answer_epoch(huge, None, epoch=0, metrics=None, steps_per_epoch=None, clock_origin=0,
                     settings=OperatorSettings(scale=10.0))  # fmt: skip
    # One overflowing step is enough, even when the epoch's first step is finite.
    decision = replace(decision_of_epoch_1(), step_learning_rates=[0.1, 1e308, 0.1])
    with pytest.raises(EvaluationError, match="scale"):
        apply_operator_settings(decision, OperatorSettings(scale=2.0))
    # A fixed rate replaces the overflowing ones: finite, so answered.
    fixed = apply_operator_settings(decision, OperatorSettings(scale=2.0, override=0.01))
    assert fixed.step_learning_rates == [0.01] * 3
