"""`interval_steps` gives an answered epoch's per-step rates again, bit for bit, from its inputs and
the step rule of the operator's settings (what the service stores instead of the rates)."""

from __future__ import annotations

import pytest

from lrhub.schedules import (
    OperatorSettings,
    StepRule,
    answer_epoch,
    fixed_rate,
    interval_steps,
    parse_spec,
)

SPEC = parse_spec(
    {
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "factor": 0.5,
        "patience": 1,
        "base": {"type": "cosine_decay", "initial_learning_rate": 0.3, "decay_steps": 50,
                 "unit": "step", "warmup_target": 0.4, "warmup_steps": 7},
    }
)  # fmt: skip
SETTINGS = [
    OperatorSettings(),
    OperatorSettings(scale=0.37),
    OperatorSettings(override=0.002),
    OperatorSettings(paused=True, held_rate=0.05),
    OperatorSettings(paused=True),  # paused before any rate was held: not fixed yet
    OperatorSettings(scale=3.0, stopped=True),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_step_rates_repeat_the_answer_under_every_setting(settings: OperatorSettings) -> None:
    state = None
    losses = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5]
    for epoch, loss in enumerate(losses):
        metrics = {"val_loss": loss} if epoch else {}
        answered = answer_epoch(
            SPEC,
            state,
            epoch=epoch,
            metrics=metrics,
            steps_per_epoch=11,
            clock_origin=2,
            settings=settings,
        )
        again = interval_steps(
            SPEC,
            state,
            epoch=epoch,
            metrics=metrics,
            steps_per_epoch=11,
            clock_origin=answered.clock_origin,
            rule=StepRule.of(settings),
        )
        assert again.rates == answered.answer.step_learning_rates
        assert again.momentums == answered.answer.step_momentums
        state = answered.decision.state
    assert len(set(again.rates)) > 1 or fixed_rate(settings) is not None


def test_fixed_rate_is_the_override_then_the_held_rate_while_paused() -> None:
    assert fixed_rate(OperatorSettings(override=0.1, paused=True, held_rate=0.2)) == 0.1
    assert fixed_rate(OperatorSettings(paused=True, held_rate=0.2)) == 0.2
    assert fixed_rate(OperatorSettings(held_rate=0.2)) is None
    assert fixed_rate(OperatorSettings(paused=True)) is None


def test_interval_steps_give_the_momentums_of_the_answer_unscaled() -> None:
    one_cycle = parse_spec(
        {"type": "one_cycle", "unit": "step", "max_learning_rate": 0.1, "total_steps": 30}
    )
    settings = OperatorSettings(scale=0.5)
    answered = answer_epoch(
        one_cycle, None, epoch=1, metrics={}, steps_per_epoch=10, clock_origin=0,
        settings=settings,
    )  # fmt: skip
    again = interval_steps(
        one_cycle, None, epoch=1, metrics={}, steps_per_epoch=10, clock_origin=0,
        rule=StepRule.of(settings),
    )  # fmt: skip
    assert again.rates == answered.answer.step_learning_rates
    assert again.momentums == answered.answer.step_momentums
    assert again.momentums is not None and len(set(again.momentums)) == 10
