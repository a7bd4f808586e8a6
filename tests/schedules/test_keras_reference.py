"""The engine reproduces Keras: `keras.optimizers.schedules` and `ReduceLROnPlateau` themselves.

The engine computes in float64. Keras schedules compute in the dtype of their
initial_learning_rate, so given float64 fields Keras runs its own code in float64 and the two
must agree to rounding; given plain floats (float32, what users get) they agree within float32
error. ReduceLROnPlateau keeps the rate in a float32 variable: the engine's rate, rounded to
float32, must be the same bits.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest

from lrhub.schedules import parse_spec
from tests.schedules.helpers_reference import change_epochs, epoch_rates, plateau_rates, step_rates

keras = pytest.importorskip("keras", reason="the Keras reference tests need tensorflow/keras")

pytestmark = pytest.mark.keras

STEPS_PER_EPOCH = 20
EPOCHS = 30  # 600 steps with STEPS_PER_EPOCH; as many epochs again with unit "epoch"

# Tolerances, relative to each rate and, where cancellation leaves only an absolute error
# (1 + cos near pi, 1 - p near 0), to the schedule's largest rate. Keras in float64 differs from
# the engine by libm rounding only. Keras in float32 rounds t / decay_steps before pow(), an error
# that grows with the exponent (about 4e-6 relative at 0.5 ** 86).
FLOAT64_REL, FLOAT64_ABS_OF_SCALE = 1e-12, 1e-15
FLOAT32_REL, FLOAT32_ABS_OF_SCALE = 1e-5, 2e-7

KERAS_SCHEDULES: dict[str, Callable[..., Any]] = {
    "exponential_decay": keras.optimizers.schedules.ExponentialDecay,
    "inverse_time_decay": keras.optimizers.schedules.InverseTimeDecay,
    "piecewise_constant_decay": keras.optimizers.schedules.PiecewiseConstantDecay,
    "polynomial_decay": keras.optimizers.schedules.PolynomialDecay,
    "cosine_decay": keras.optimizers.schedules.CosineDecay,
    "cosine_decay_restarts": keras.optimizers.schedules.CosineDecayRestarts,
}

# (lrhub type, fields): lrhub's field names are Keras's, so the same fields build both.
SCHEDULE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("exponential_decay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}),
    (
        "exponential_decay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True},
    ),
    (
        "exponential_decay",
        {"initial_learning_rate": 1.0, "decay_steps": 100, "decay_rate": 0.96, "staircase": True},
    ),
    ("exponential_decay", {"initial_learning_rate": 0.01, "decay_steps": 1, "decay_rate": 0.99}),
    ("inverse_time_decay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    (
        "inverse_time_decay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "staircase": True},
    ),
    # The legacy Keras-2 optimizer `decay` argument.
    ("inverse_time_decay", {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.01}),
    (
        "inverse_time_decay",
        {"initial_learning_rate": 0.02, "decay_steps": 50, "decay_rate": 2.0, "staircase": True},
    ),
    (
        "piecewise_constant_decay",
        {"boundaries": [100, 250, 400], "values": [1.0, 0.5, 0.1, 0.01]},
    ),
    ("piecewise_constant_decay", {"boundaries": [0, 1], "values": [0.3, 0.2, 0.1]}),
    ("piecewise_constant_decay", {"boundaries": [599], "values": [0.05, 0.001]}),
    ("polynomial_decay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    (
        "polynomial_decay",
        {"initial_learning_rate": 0.1, "decay_steps": 100, "end_learning_rate": 1e-3, "power": 2.0},
    ),
    (
        "polynomial_decay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 80,
            "end_learning_rate": 0.0,
            "power": 0.5,
            "cycle": True,
        },
    ),
    (
        "polynomial_decay",
        {
            "initial_learning_rate": 1.0,
            "decay_steps": 150,
            "end_learning_rate": 0.01,
            "power": 3.0,
            "cycle": True,
        },
    ),
    (
        "polynomial_decay",
        {"initial_learning_rate": 0.5, "decay_steps": 45, "cycle": True},
    ),
    ("cosine_decay", {"initial_learning_rate": 0.1, "decay_steps": 500}),
    ("cosine_decay", {"initial_learning_rate": 0.1, "decay_steps": 300, "alpha": 0.1}),
    (
        "cosine_decay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 400,
            "alpha": 0.05,
            "warmup_target": 0.1,
            "warmup_steps": 50,
        },
    ),
    (
        "cosine_decay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 300,
            "warmup_target": 0.2,
            "warmup_steps": 100,
        },
    ),
    (
        "cosine_decay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 200,
            "warmup_target": 0.05,
            "warmup_steps": 0,
        },
    ),
    ("cosine_decay_restarts", {"initial_learning_rate": 0.1, "first_decay_steps": 50}),
    (
        "cosine_decay_restarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 40,
            "t_mul": 1.0,
            "m_mul": 0.8,
            "alpha": 0.01,
        },
    ),
    (
        "cosine_decay_restarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 30,
            "t_mul": 1.5,
            "m_mul": 0.9,
            "alpha": 0.1,
        },
    ),
    (
        "cosine_decay_restarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 20, "t_mul": 3.0, "m_mul": 0.5},
    ),
]


REFERENCE_STEPS = EPOCHS * STEPS_PER_EPOCH + 1


def schedule_params() -> list[Any]:
    return [
        pytest.param(index, {"type": kind, **fields}, id=f"{kind}-{index}")
        for index, (kind, fields) in enumerate(SCHEDULE_CASES)
    ]


def keras_arguments(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Keras constructor arguments of a spec: its fields, every default filled in."""
    # Defaults are passed too, so that they take the test's dtype (Keras casts a Python float
    # default through float32); test_defaults_are_keras_defaults keeps them honest.
    # The engine's own values, not their JSON: JSON writes a whole float as an integer (`10`),
    # and Keras would then compute in integers.
    fields = parse_spec(spec).model_dump()
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in fields.items()
        if key not in ("type", "unit")
    }


@cache
def keras_reference(index: int, dtype: type[np.floating[Any]]) -> np.ndarray:
    """Keras's own rates of SCHEDULE_CASES[index] at steps 0..REFERENCE_STEPS-1, in `dtype`."""
    kind, fields = SCHEDULE_CASES[index]
    return keras_rates(kind, keras_arguments({"type": kind, **fields}), REFERENCE_STEPS, dtype)


def keras_rates(
    kind: str, arguments: Mapping[str, Any], count: int, dtype: type[np.floating[Any]]
) -> np.ndarray:
    """Keras's own rates at steps 0..count-1, computed in `dtype`."""
    # Keras computes in the dtype of initial_learning_rate and casts the other floats to it.
    typed = {key: with_dtype(value, dtype) for key, value in arguments.items()}
    schedule = KERAS_SCHEDULES[kind](**typed)
    steps = np.arange(count)
    if kind == "cosine_decay_restarts" or arguments.get("warmup_target") is not None:
        # An optimizer calls its schedule with one scalar step. CosineDecay's warm-up branch is
        # an ops.cond that needs one; and on a vector, TF's float64 log can land a restart's
        # floor(log(..) / log(t_mul)) one ulp under the integer, which a scalar call does not.
        values = [keras.ops.convert_to_numpy(schedule(int(step))) for step in steps]
    else:
        values = keras.ops.convert_to_numpy(schedule(steps))
    result = np.asarray(values)
    assert result.dtype == dtype
    return result


def with_dtype(value: Any, dtype: type[np.floating[Any]]) -> Any:
    """Floats (alone or in lists) as numpy scalars of `dtype`; ints, flags and None unchanged."""
    if isinstance(value, float):
        return dtype(value)
    if isinstance(value, list):
        return [with_dtype(item, dtype) for item in value]
    return value


def assert_close(
    engine: list[float], expected: np.ndarray, rel: float, abs_of_scale: float
) -> None:
    """The engine's rates, in Keras's dtype, agree with Keras's within the given error."""
    got = np.asarray(engine, dtype=expected.dtype)
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(got, expected, rtol=rel, atol=abs_of_scale * scale)


@pytest.mark.parametrize("kind", sorted(KERAS_SCHEDULES))
def test_defaults_are_keras_defaults(kind: str) -> None:
    parameters = inspect.signature(KERAS_SCHEDULES[kind]).parameters
    example = next(fields for name, fields in SCHEDULE_CASES if name == kind)
    required = {name: example[name] for name, p in parameters.items() if p.default is p.empty}
    keras_defaults = {
        name: p.default
        for name, p in parameters.items()
        if p.default is not p.empty and name != "name"
    }
    arguments = keras_arguments({"type": kind, **required})
    assert {name: arguments[name] for name in keras_defaults} == keras_defaults


@pytest.mark.parametrize(("index", "spec"), schedule_params())
def test_schedule_per_step_matches_keras(index: int, spec: dict[str, Any]) -> None:
    engine = step_rates({**spec, "unit": "step"}, EPOCHS, STEPS_PER_EPOCH)
    expected = keras_reference(index, np.float64)[: EPOCHS * STEPS_PER_EPOCH]
    assert_close(engine, expected, FLOAT64_REL, FLOAT64_ABS_OF_SCALE)


@pytest.mark.parametrize(("index", "spec"), schedule_params())
def test_schedule_per_epoch_matches_keras(index: int, spec: dict[str, Any]) -> None:
    engine = epoch_rates({**spec, "unit": "epoch"}, REFERENCE_STEPS)
    assert_close(engine, keras_reference(index, np.float64), FLOAT64_REL, FLOAT64_ABS_OF_SCALE)


@pytest.mark.parametrize(("index", "spec"), schedule_params())
def test_schedule_matches_keras_float32_as_users_run_it(index: int, spec: dict[str, Any]) -> None:
    engine = step_rates({**spec, "unit": "step"}, EPOCHS, STEPS_PER_EPOCH)
    expected = keras_reference(index, np.float32)[: EPOCHS * STEPS_PER_EPOCH]
    assert_close(engine, expected, FLOAT32_REL, FLOAT32_ABS_OF_SCALE)


@pytest.mark.parametrize(
    "fields",
    [
        {"boundaries": [3, 7, 12], "values": [1.0, 0.5, 0.25, 0.125]},
        {"boundaries": [0, 5], "values": [0.3, 0.2, 0.1]},
    ],
)
def test_piecewise_upper_bounds_are_inclusive_like_keras(fields: dict[str, Any]) -> None:
    """At a boundary the earlier value still holds; one past it the next value starts."""
    expected = keras_rates("piecewise_constant_decay", fields, 20, np.float32)
    engine = epoch_rates({"type": "piecewise_constant_decay", **fields}, 20)
    # Piecewise values are copied, never computed: float32 equality holds exactly.
    assert np.array_equal(np.asarray(engine, dtype=np.float32), expected)
    for boundary, before, after in zip(
        fields["boundaries"], fields["values"], fields["values"][1:], strict=False
    ):
        assert engine[boundary] == before
        assert engine[boundary + 1] == after


# --- ReduceLROnPlateau --------------------------------------------------------------------------


def noisy_decay(seed: int, epochs: int, noise: float) -> list[float]:
    """A loss decaying to a floor with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    return [float(v) for v in 0.3 + 2.0 * np.exp(-t / 15) + rng.normal(0, noise, epochs)]


def uniform(seed: int, epochs: int) -> list[float]:
    """Independent uniform values in [0, 1)."""
    return [float(v) for v in np.random.default_rng(seed).uniform(0, 1, epochs)]


def flat_with_noise(seed: int, epochs: int, noise: float) -> list[float]:
    """A plateau at 1.0 with noise around it."""
    return [float(v) for v in 1.0 + np.random.default_rng(seed).normal(0, noise, epochs)]


def rising(seed: int, epochs: int, noise: float) -> list[float]:
    """An accuracy-like curve rising to a ceiling with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(epochs)
    return [
        float(v) for v in 0.5 + 0.45 / (1 + np.exp(-(t - 20) / 6)) + rng.normal(0, noise, epochs)
    ]


def with_gaps(values: list[float], seed: int) -> list[float | None]:
    """Drop the metric (None) from about a fifth of the epochs."""
    missing = np.random.default_rng(seed).random(len(values)) < 0.2
    return [None if gone else value for value, gone in zip(values, missing, strict=True)]


def random_plateau_case(seed: int) -> tuple[str, dict[str, Any], str, Sequence[float | None]]:
    """Settings drawn from small menus and a noisy metric of that mode, all from `seed`."""
    rng = np.random.default_rng(seed)
    mode = str(rng.choice(["min", "max"]))
    settings = {
        "mode": mode,
        "patience": int(rng.integers(0, 6)),
        "cooldown": int(rng.integers(0, 4)),
        "factor": float(rng.choice([0.1, 0.25, 0.5, 0.8])),
        "min_delta": float(rng.choice([0.0, 1e-4, 0.01])),
        "min_lr": float(rng.choice([0.0, 1e-5, 1e-3])),
    }
    noise = float(rng.choice([1e-3, 0.02, 0.1]))
    if mode == "min":
        return f"random-{seed}", settings, "val_loss", noisy_decay(seed, 150, noise)
    return f"random-{seed}", settings, "val_accuracy", rising(seed, 150, noise)


# (id, callback settings, metric name, metric per epoch; None = not reported that epoch)
PLATEAU_CASES: list[tuple[str, dict[str, Any], str, Sequence[float | None]]] = [
    ("defaults", {}, "val_loss", noisy_decay(1, 120, 0.03)),
    ("patience0", {"patience": 0, "factor": 0.5}, "val_loss", noisy_decay(2, 80, 0.03)),
    ("patience1", {"patience": 1, "factor": 0.5}, "val_loss", noisy_decay(3, 80, 0.02)),
    ("patience3-cooldown2", {"patience": 3, "cooldown": 2}, "val_loss", noisy_decay(4, 120, 0.02)),
    (
        "patience1-cooldown4",
        {"patience": 1, "cooldown": 4, "factor": 0.5},
        "val_loss",
        uniform(5, 150),
    ),
    ("min-delta-0", {"patience": 2, "min_delta": 0.0, "factor": 0.5}, "val_loss", uniform(6, 150)),
    (
        "min-delta-005",
        {"patience": 1, "min_delta": 0.05, "factor": 0.5},
        "val_loss",
        noisy_decay(7, 120, 0.02),
    ),
    ("min-lr-clamp", {"patience": 1, "factor": 0.3, "min_lr": 1e-3}, "val_loss", uniform(8, 100)),
    (
        "min-lr-not-a-multiple",
        {"patience": 0, "factor": 0.5, "min_lr": 0.007, "initial_learning_rate": 0.05},
        "val_loss",
        uniform(9, 60),
    ),
    (
        "mode-max",
        {"patience": 2, "mode": "max", "factor": 0.5},
        "val_accuracy",
        rising(10, 120, 0.01),
    ),
    (
        "mode-max-min-delta",
        {"patience": 1, "mode": "max", "min_delta": 0.01, "cooldown": 1, "min_lr": 1e-5},
        "val_accuracy",
        rising(11, 120, 0.02),
    ),
    (
        "auto-loss",
        {"patience": 2, "mode": "auto", "factor": 0.5},
        "val_loss",
        noisy_decay(12, 100, 0.03),
    ),
    (
        "auto-accuracy",
        {"patience": 2, "mode": "auto", "factor": 0.5},
        "val_accuracy",
        rising(13, 100, 0.02),
    ),
    ("auto-auc", {"patience": 1, "mode": "auto", "factor": 0.5}, "val_auc", rising(14, 100, 0.02)),
    (
        "missing-metric",
        {"patience": 1, "factor": 0.5, "cooldown": 1},
        "val_loss",
        with_gaps(noisy_decay(15, 120, 0.03), 15),
    ),
    (
        "missing-metric-max",
        {"patience": 2, "mode": "max", "factor": 0.5},
        "val_accuracy",
        with_gaps(rising(16, 120, 0.02), 16),
    ),
    (
        "plateau-noise-1e-3",
        {"patience": 2, "factor": 0.5},
        "val_loss",
        flat_with_noise(17, 150, 1e-3),
    ),
    (
        "plateau-noise-1e-5",
        {"patience": 2, "factor": 0.5, "min_delta": 1e-5},
        "val_loss",
        flat_with_noise(18, 150, 1e-5),
    ),
    (
        "long-random-400",
        {"patience": 3, "factor": 0.8, "cooldown": 2, "min_lr": 1e-4},
        "val_loss",
        uniform(19, 400),
    ),
    # Keras compares in float32: differences below its resolution are no improvement.
    (
        "noise-below-float32",
        {"patience": 1, "factor": 0.5, "min_delta": 0.0},
        "val_loss",
        flat_with_noise(21, 100, 1e-9),
    ),
    (
        "long-random-max-300",
        {"patience": 1, "mode": "max", "factor": 0.7, "min_delta": 0.0, "min_lr": 1e-6},
        "val_accuracy",
        uniform(20, 300),
    ),
    *[random_plateau_case(seed) for seed in range(100, 140)],
]

CALLBACK_FIELDS = ("factor", "patience", "mode", "min_delta", "cooldown", "min_lr")


@pytest.fixture(scope="module")
def model() -> Any:
    """A tiny compiled model: the callback only reads and sets its optimizer's rate."""
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
    net.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    # `mode="auto"` looks up the compiled metrics' direction; evaluating once builds them.
    net.evaluate(np.zeros((2, 2)), np.array([[0.0], [1.0]]), verbose=0)
    return net


def keras_plateau_rates(
    model: Any, settings: Mapping[str, Any], logs_per_epoch: list[dict[str, float]]
) -> list[float]:
    """What Keras's optimizer holds at epochs 0..len(logs), driven by on_epoch_end alone."""
    model.optimizer.learning_rate = settings["initial_learning_rate"]
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor=settings["monitor"], **{k: settings[k] for k in CALLBACK_FIELDS if k in settings}
    )
    callback.set_model(model)
    callback.on_train_begin()
    rates = [current_rate(model)]
    for epoch, logs in enumerate(logs_per_epoch):
        callback.on_epoch_end(epoch, dict(logs))  # Keras adds its own keys to logs
        rates.append(current_rate(model))
    return rates


def current_rate(model: Any) -> float:
    """The value of the optimizer's float32 rate variable."""
    return float(np.float32(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))


@pytest.mark.filterwarnings("ignore:Learning rate reduction is conditioned on metric")
@pytest.mark.parametrize(
    ("settings", "monitor", "values"),
    [
        pytest.param(settings, monitor, values, id=name)
        for name, settings, monitor, values in PLATEAU_CASES
    ],
)
def test_reduce_on_plateau_matches_keras(
    model: Any, settings: dict[str, Any], monitor: str, values: list[float | None]
) -> None:
    spec = {
        "type": "reduce_on_plateau",
        "semantics": "keras",
        "monitor": monitor,
        "initial_learning_rate": 0.1,
        **settings,
    }
    # An epoch without the monitored metric still reports others, as in a real fit.
    logs = [{"loss": 0.5} if value is None else {monitor: value} for value in values]
    expected = keras_plateau_rates(model, spec, logs)
    assert change_epochs(expected), "the reference never reduces: the case tests nothing"
    engine = [float(np.float32(rate)) for rate in plateau_rates(spec, logs)]
    assert change_epochs(engine) == change_epochs(expected)
    assert engine == expected
