"""Schedules of well-known Keras learning-rate articles, in lrhub's vocabulary, against their code.

Each article function is copied into the test (tf.math.exp replaced by math.exp) and compared
with the spec that expresses it, epoch by epoch. The articles, by subject: the Ionosphere
experiment (time-based and drop-based schedules), five scheduling functions for Keras's
LearningRateScheduler (ending with a ramp-sustain-decay "one cycle"), setting a dynamic learning
rate (constant then exponential, ReduceLROnPlateau), and changing the learning rate in Keras (a
custom callback that compounds the rate).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from lrhub.schedules import parse_spec, preview

EPOCHS = 60


def curve(data: dict[str, Any], epochs: int = EPOCHS) -> list[float]:
    return preview(parse_spec(data), epochs).learning_rates


# --- The Ionosphere experiment: its time-based table and drop-based schedule ----------------------

PRINTED_TABLE = ["0.1", "0.0999000999", "0.0997006985", "0.09940249103", "0.09900646517"]


def test_ionosphere_time_based_table_to_its_printed_digits() -> None:
    # lr = lr * 1 / (1 + decay * epoch), applied every epoch with lr=0.1 and decay=0.001.
    rates = curve(
        {
            "type": "expression",
            "expression": "prev_lr / (1 + 0.001 * epoch)",
            "initial_learning_rate": 0.1,
        },
        epochs=5,
    )
    for rate, printed in zip(rates, PRINTED_TABLE, strict=True):
        exponent = Decimal(printed).as_tuple().exponent
        assert isinstance(exponent, int)
        digits = -exponent
        assert round(rate, digits) == float(printed), (rate, printed)


def ionosphere_step_decay(epoch: int) -> float:
    initial_lrate = 0.1
    drop = 0.5
    epochs_drop = 10.0
    lrate = initial_lrate * math.pow(drop, math.floor((1 + epoch) / epochs_drop))
    return lrate


def test_ionosphere_drop_based_is_step_decay_with_offset_one() -> None:
    rates = curve(
        {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 10, "offset": 1}
    )
    assert rates == [ionosphere_step_decay(epoch) for epoch in range(EPOCHS)]
    assert rates[8:10] == [0.1, 0.05]


# --- Five scheduling functions for LearningRateScheduler, up to "one cycle" -----------------------


def scheduling_functions_constant(epoch: int) -> float:
    start_lr = 0.001
    return start_lr


def scheduling_functions_time_based(epoch: int) -> float:
    start_lr = 0.001
    decay = 0.1
    previous_lr = 1.0

    def lr(epoch: int, start_lr: float, decay: float) -> float:
        nonlocal previous_lr
        previous_lr *= start_lr / (1.0 + decay * epoch)
        return previous_lr

    return lr(epoch, start_lr, decay)


def scheduling_functions_exponential(epoch: int) -> float:
    start_lr = 0.001
    exp_decay = 0.1
    return start_lr * math.exp(-exp_decay * epoch)


def scheduling_functions_constant_then_exponential(epoch: int) -> float:
    start_lr = 0.001
    rampup_epochs = 10
    exp_decay = 0.1
    if epoch < rampup_epochs:
        return start_lr
    return start_lr * math.exp(-exp_decay * epoch)


def scheduling_functions_one_cycle(epoch: int) -> float:
    start_lr = 0.0001
    min_lr = 0.00001
    max_lr = 0.001
    rampup_epochs = 10
    sustain_epochs = 0
    exp_decay = 0.8
    if epoch < rampup_epochs:
        lr = (max_lr - start_lr) / rampup_epochs * epoch + start_lr
    elif epoch < rampup_epochs + sustain_epochs:
        lr = max_lr
    else:
        lr = (max_lr - min_lr) * exp_decay ** (epoch - rampup_epochs - sustain_epochs) + min_lr
    return lr


SCHEDULING_FUNCTIONS = [
    ("constant", {"type": "constant", "learning_rate": 0.001}, scheduling_functions_constant),
    # The article's closure resets previous_lr to 1 on every call, so its "time-based" function
    # is start_lr / (1 + decay * epoch): Keras InverseTimeDecay with decay_steps=1.
    (
        "time-based",
        {
            "type": "inverse_time_decay",
            "initial_learning_rate": 0.001,
            "decay_steps": 1,
            "decay_rate": 0.1,
        },
        scheduling_functions_time_based,
    ),
    (
        "exponential",
        {
            "type": "exponential_decay",
            "initial_learning_rate": 0.001,
            "decay_steps": 1,
            "decay_rate": math.exp(-0.1),
        },
        scheduling_functions_exponential,
    ),
    (
        "exponential as formula",
        {
            "type": "expression",
            "initial_learning_rate": 0.001,
            "expression": "initial_learning_rate * exp(-0.1 * epoch)",
        },
        scheduling_functions_exponential,
    ),
    (
        "constant then exponential",
        {
            "type": "expression",
            "initial_learning_rate": 0.001,
            "expression": "initial_learning_rate if epoch < 10 else "
            "initial_learning_rate * exp(-0.1 * epoch)",
        },
        scheduling_functions_constant_then_exponential,
    ),
    (
        "one cycle",
        {
            "type": "ramp_hold_decay",
            "start_learning_rate": 0.0001,
            "max_learning_rate": 0.001,
            "min_learning_rate": 0.00001,
            "rampup": 10,
            "sustain": 0,
            "exp_decay": 0.8,
        },
        scheduling_functions_one_cycle,
    ),
]


@pytest.mark.parametrize(
    ("data", "article"),
    [s[1:] for s in SCHEDULING_FUNCTIONS],
    ids=[s[0] for s in SCHEDULING_FUNCTIONS],
)
def test_scheduling_functions(data: dict[str, Any], article: Any) -> None:
    expected = [article(epoch) for epoch in range(EPOCHS)]
    assert curve(data) == pytest.approx(expected, rel=1e-13)


def test_scheduling_functions_one_cycle_is_exact() -> None:
    rates = curve(SCHEDULING_FUNCTIONS[-1][1])
    assert rates == [scheduling_functions_one_cycle(epoch) for epoch in range(EPOCHS)]


# --- Setting a dynamic learning rate: constant then exponential, ReduceLROnPlateau(0.2, 3) --------


def dynamic_rate_schedule(epoch: int) -> float:
    if epoch < 5:
        return 0.01
    else:
        return 0.01 * math.exp(0.1 * (10 - epoch))


def test_dynamic_rate_schedule() -> None:
    rates = curve(
        {
            "type": "expression",
            "initial_learning_rate": 0.01,
            "expression": "0.01 if epoch < 5 else 0.01 * exp(0.1 * (10 - epoch))",
        }
    )
    assert rates == [dynamic_rate_schedule(epoch) for epoch in range(EPOCHS)]


def test_dynamic_rate_reduce_on_plateau() -> None:
    spec = parse_spec(
        {
            "type": "reduce_on_plateau",
            "monitor": "val_loss",
            "factor": 0.2,
            "patience": 3,
            "min_lr": 0.001,
            "initial_learning_rate": 0.01,
        }
    )
    # The loss improves for three epochs, then stalls for good.
    losses = [0.9, 0.7, 0.6] + [0.6] * 12
    result = preview(spec, len(losses) + 1, metrics=[{"val_loss": v} for v in losses])
    float32_of_0_01 = 0.009999999776482582  # Keras reads 0.01 back from a float32 variable
    assert result.learning_rates[:6] == [0.01] * 6
    # The 4th epoch at 0.6 is the third without improvement: reduce by 0.2 ...
    assert result.learning_rates[6] == float32_of_0_01 * 0.2
    assert result.learning_rates[6:9] == [float32_of_0_01 * 0.2] * 3
    # ... then three epochs later 0.0004 would be below min_lr: clamped to 0.001, and held.
    assert result.learning_rates[9:] == [0.001] * 7
    assert "0.002 -> 0.001" in result.reasons[9]


# --- Changing the learning rate in Keras: compounding callbacks -----------------------------------


def change_rate_custom_scheduler(epoch: int, lr: float) -> float:
    if epoch < 5:
        return lr
    else:
        return lr * 0.9


def change_rate_scheduler(epoch: int, lr: float) -> float:
    if epoch < 10:
        return lr
    else:
        return lr * math.exp(-0.1)


@pytest.mark.parametrize(
    ("expression", "article"),
    [
        ("prev_lr if epoch < 5 else prev_lr * 0.9", change_rate_custom_scheduler),
        ("initial_learning_rate if epoch < 10 else prev_lr * exp(-0.1)", change_rate_scheduler),
    ],
)
def test_change_rate_compounding(expression: str, article: Any) -> None:
    rates = curve({"type": "expression", "initial_learning_rate": 0.01, "expression": expression})
    expected, lr = [], 0.01
    for epoch in range(EPOCHS):
        lr = article(epoch, lr)
        expected.append(lr)
    assert rates == pytest.approx(expected, rel=1e-13)
    assert rates[20] < rates[4] == 0.01
