"""preview(): the curve of a spec over some epochs, reusing decide."""

from __future__ import annotations

import pytest

from lrhub.schedules import EvaluationError, decide, parse_spec, preview

PLATEAU = parse_spec(
    {
        "type": "reduce_on_plateau",
        "monitor": "val_loss",
        "initial_learning_rate": 1.0,
        "factor": 0.5,
        "patience": 0,
        "min_lr": 0.25,
        "stop_patience": 1,
    }
)


def test_preview_per_epoch() -> None:
    spec = parse_spec({"type": "step_decay", "initial_learning_rate": 0.8, "drop": 0.5, "every": 2})
    result = preview(spec, 6)
    assert result.learning_rates == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert result.step_learning_rates is None
    assert result.stop_epoch is None
    assert result.reasons[2] == "step_decay at epoch 2: 0.4"


def test_preview_per_step() -> None:
    spec = parse_spec(
        {
            "type": "linear",
            "unit": "step",
            "start_learning_rate": 0.0,
            "end_learning_rate": 0.6,
            "duration": 6,
        }
    )
    result = preview(spec, 3, steps_per_epoch=3)
    assert result.step_learning_rates is not None
    flat = [rate for epoch in result.step_learning_rates for rate in epoch]
    assert flat == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6])
    assert [len(epoch) for epoch in result.step_learning_rates] == [3, 3, 3]
    assert result.learning_rates == pytest.approx([0.0, 0.3, 0.6])


def test_metrics_of_epoch_i_drive_epoch_i_plus_one() -> None:
    result = preview(PLATEAU, 4, metrics=[{"val_loss": 1.0}, {"val_loss": 1.0}])
    assert result.learning_rates == [1.0, 1.0, 0.5, 0.5]
    assert result.reasons[0] == "no metrics reported yet; rate 1"
    assert result.reasons[3] == "no metrics reported yet; rate 0.5"


def test_stop_epoch_is_the_first_stop() -> None:
    losses = [{"val_loss": 1.0}] * 6
    result = preview(PLATEAU, 7, metrics=losses)
    assert result.learning_rates == [1.0, 1.0, 0.5, 0.25, 0.25, 0.25, 0.25]
    # Epoch 4's metric is the first bad one at min_lr; stop_patience=1 says stop there.
    assert result.stop_epoch == 4


def test_preview_equals_decide_in_a_loop() -> None:
    spec = parse_spec(
        {
            "type": "expression",
            "expression": "prev_lr * (0.5 if val_loss > 1 else 1)",
            "initial_learning_rate": 1.0,
        }
    )
    metrics = [{"val_loss": v} for v in (2.0, 0.5, 3.0)]
    result = preview(spec, 4, metrics=metrics)
    first = decide(spec, None, epoch=0)
    state, rates = first.state, [first.learning_rate]
    for epoch, observed in enumerate(metrics, start=1):
        decision = decide(spec, state, epoch=epoch, metrics=observed)
        state = decision.state
        rates.append(decision.learning_rate)
    assert result.learning_rates == rates == [1.0, 0.5, 0.5, 0.25]
    assert result.reasons[0] == "expression: no metrics reported yet, rate held at 1"


def test_expression_missing_one_of_the_reported_metrics_fails() -> None:
    spec = parse_spec(
        {"type": "expression", "expression": "0.1 * val_loss", "initial_learning_rate": 0.1}
    )
    with pytest.raises(EvaluationError, match="'val_loss', not reported for epoch 1"):
        preview(spec, 3, metrics=[{"val_loss": 1.0}, {"loss": 1.0}])


def test_zero_epochs_is_an_empty_curve() -> None:
    result = preview(PLATEAU, 0, steps_per_epoch=2)
    assert (result.learning_rates, result.step_learning_rates, result.stop_epoch) == ([], [], None)
