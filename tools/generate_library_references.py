"""Write Transformers and timm learning-rate reference sequences for lrhub's exactness tests.

Run with torch (==2.13.0), transformers and timm installed (`pip install timm --no-deps`: timm's
schedulers need only torch and numpy):

    python tools/generate_library_references.py [--out tests/data/libraries]

timm's package `__init__` imports its models, and through them torchvision, which has no build
matching a CPU-only torch. This tool therefore loads only the `timm.scheduler` modules: it puts
empty stand-ins for the `timm` and `timm.scheduler` packages (pointing at the installed package's
directories) into `sys.modules`, so importing `timm.scheduler.cosine_lr` and the like runs those
modules' own code and never the packages' `__init__`.

`cooldown.json` holds Transformers' warmup-stable-decay schedules whose decay starts at several
steps: what a cooldown started on demand at that step must give. Each other file holds the
library's version and a list of cases: an `id`, the lrhub `spec`, the
`epochs` (and `steps_per_epoch` for per-step specs) to preview, the `metrics` observed at the end of
each epoch (plateau only) and `learning_rates`: what the library put in the optimizer at each epoch
(or step). Transformers' schedulers are read before every `scheduler.step()`; timm's after
`step(t)` (per epoch) or `step_update(t)` (per step), as timm's training loop drives them; a
plateau scheduler's epoch N+1 rate is set by the metric of epoch N. The tests compare against
these files and never run the libraries.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from generate_torch_reference import (  # type: ignore[import-not-found]
    first_group_rate,
    noisy_loss,
    one_parameter_sgd,
    rising_accuracy,
    write_families,
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "libraries"

Case = dict[str, Any]
EPOCHS, STEPS_PER_EPOCH = 5, 30  # 150 steps; Transformers' cases train for 120 of them
TRAINING_STEPS = 120
TIMM_EPOCHS = 150


def load_timm_scheduler() -> types.ModuleType:
    """`timm.scheduler`'s scheduler modules, without running `timm/__init__.py` (see above)."""
    spec = importlib.util.find_spec("timm")
    assert spec is not None and spec.submodule_search_locations, "install timm (--no-deps)"
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (("timm", root), ("timm.scheduler", root / "scheduler")):
        stand_in = types.ModuleType(name)
        stand_in.__path__ = [str(path)]
        sys.modules[name] = stand_in
    scheduler = sys.modules["timm.scheduler"]
    modules = ("cosine_lr", "step_lr", "multistep_lr", "poly_lr", "tanh_lr", "wsd_lr", "plateau_lr")
    for module in modules:
        loaded = importlib.import_module(f"timm.scheduler.{module}")
        for attribute, value in vars(loaded).items():
            if attribute.endswith("Scheduler"):
                setattr(scheduler, attribute, value)
    return scheduler


def _timm_version() -> str:
    from importlib.metadata import version

    return version("timm")


# --- Transformers -------------------------------------------------------------------------------


def transformers_case(
    case_id: str,
    scheduler: str,
    *,
    learning_rate: float = 0.1,
    warmup: int = 0,
    training_steps: int | None = TRAINING_STEPS,
    kwargs: dict[str, Any] | None = None,
) -> Case:
    """One get_scheduler case over EPOCHS x STEPS_PER_EPOCH steps (past training_steps)."""
    optimizer = one_parameter_sgd(learning_rate)
    built = transformers.get_scheduler(
        scheduler,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=training_steps,
        scheduler_specific_kwargs=dict(kwargs or {}),
    )
    rates = []
    for _ in range(EPOCHS * STEPS_PER_EPOCH):
        rates.append(first_group_rate(optimizer))
        optimizer.step()
        built.step()
    spec: dict[str, Any] = {
        "type": "transformers",
        "scheduler": scheduler,
        "learning_rate": learning_rate,
        "num_warmup_steps": warmup,
        "num_training_steps": training_steps,
        "kwargs": kwargs or {},
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": EPOCHS,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "learning_rates": rates,
    }


def plateau_result(
    case_id: str, spec: dict[str, Any], metrics: list[float], rates: list[float]
) -> Case:
    """A plateau case: each epoch's metric under the spec's `monitor`, and the rates it led to."""
    return {
        "id": case_id,
        "spec": spec,
        "epochs": len(metrics) + 1,
        "metrics": [{spec["monitor"]: value} for value in metrics],
        "learning_rates": rates,
    }


def transformers_plateau_case(
    case_id: str, metrics: list[float], kwargs: dict[str, Any], learning_rate: float = 0.1
) -> Case:
    """get_scheduler("reduce_lr_on_plateau"), stepped with one metric per evaluation (epoch)."""
    optimizer = one_parameter_sgd(learning_rate)
    built = transformers.get_scheduler(
        "reduce_lr_on_plateau", optimizer, scheduler_specific_kwargs=dict(kwargs)
    )
    rates = [first_group_rate(optimizer)]
    for value in metrics:
        optimizer.step()
        built.step(value)
        rates.append(first_group_rate(optimizer))
    monitor = "eval_loss" if kwargs.get("mode", "min") == "min" else "eval_accuracy"
    spec = {
        "type": "transformers",
        "unit": "epoch",
        "scheduler": "reduce_lr_on_plateau",
        "learning_rate": learning_rate,
        "monitor": monitor,
        "kwargs": kwargs,
    }
    return plateau_result(case_id, spec, metrics, rates)


def transformers_cases() -> list[Case]:
    """Every scheduler type, with and without warm-up, cycles and minimum rates."""
    wsd = "warmup_stable_decay"
    return [
        transformers_case("constant", "constant", training_steps=None),
        transformers_case("constant-with-warmup", "constant_with_warmup", warmup=10),
        transformers_case("linear", "linear"),
        transformers_case("linear-warmup", "linear", warmup=10),
        transformers_case("cosine-warmup", "cosine", warmup=10),
        transformers_case("cosine-1.5-cycles", "cosine", warmup=7, kwargs={"num_cycles": 1.5}),
        transformers_case(
            "cosine-restarts-3", "cosine_with_restarts", warmup=5, kwargs={"num_cycles": 3}
        ),
        transformers_case("cosine-restarts-default", "cosine_with_restarts"),
        transformers_case("polynomial-default", "polynomial", warmup=10),
        transformers_case(
            "polynomial-power2", "polynomial", warmup=4, kwargs={"lr_end": 1e-3, "power": 2.0}
        ),
        transformers_case("inverse-sqrt", "inverse_sqrt", warmup=10, training_steps=None),
        transformers_case(
            "inverse-sqrt-timescale",
            "inverse_sqrt",
            warmup=10,
            training_steps=None,
            kwargs={"timescale": 25},
        ),
        transformers_case("inverse-sqrt-no-warmup", "inverse_sqrt", training_steps=None),
        transformers_case(
            "cosine-min-lr", "cosine_with_min_lr", warmup=10, kwargs={"min_lr": 1e-3}
        ),
        transformers_case(
            "cosine-min-lr-rate-cycles",
            "cosine_with_min_lr",
            warmup=3,
            kwargs={"min_lr_rate": 0.1, "num_cycles": 1.0},
        ),
        transformers_case(
            "cosine-warmup-min-lr-rate",
            "cosine_warmup_with_min_lr",
            warmup=10,
            kwargs={"min_lr_rate": 0.05},
        ),
        transformers_case(
            "cosine-warmup-min-lr-warmup-rate",
            "cosine_warmup_with_min_lr",
            warmup=12,
            learning_rate=3e-4,
            kwargs={"min_lr": 1e-5, "warmup_lr_rate": 0.1},
        ),
        transformers_case("wsd-default", wsd, warmup=10, kwargs={"num_decay_steps": 30}),
        transformers_case(
            "wsd-linear-min-ratio",
            wsd,
            warmup=10,
            kwargs={"num_decay_steps": 40, "decay_type": "linear", "min_lr_ratio": 0.1},
        ),
        transformers_case(
            "wsd-1-sqrt-cosine-warmup",
            wsd,
            warmup=15,
            kwargs={"num_decay_steps": 25, "decay_type": "1-sqrt", "warmup_type": "cosine"},
        ),
        transformers_case(
            "wsd-1-sqrt-warmup-stable-steps",
            wsd,
            warmup=8,
            training_steps=None,
            kwargs={
                "num_decay_steps": 50,
                "num_stable_steps": 40,
                "warmup_type": "1-sqrt",
                "decay_type": "cosine",
                "num_cycles": 0.75,
                "min_lr_ratio": 0.02,
            },
        ),
        transformers_plateau_case("plateau-defaults", noisy_loss(31, 120, 0.02), {}),
        transformers_plateau_case(
            "plateau-max-abs",
            rising_accuracy(32, 120, 0.01),
            {
                "mode": "max",
                "factor": 0.5,
                "patience": 2,
                "threshold": 0.005,
                "threshold_mode": "abs",
                "cooldown": 1,
                "min_lr": 1e-3,
            },
        ),
    ]


def cooldown_case(start: int, length: int, shape: str, min_lr_ratio: float) -> Case:
    """Transformers' WSD whose decay starts at `start` (no warm-up, `start` stable steps): the
    rates a cooldown started at that step must give."""
    learning_rate = 0.05
    optimizer = one_parameter_sgd(learning_rate)
    kwargs = {
        "num_stable_steps": start,
        "num_decay_steps": length,
        "decay_type": shape,
        "min_lr_ratio": min_lr_ratio,
    }
    built = transformers.get_scheduler(
        "warmup_stable_decay", optimizer, num_warmup_steps=0, scheduler_specific_kwargs=kwargs
    )
    rates = []
    for _ in range(start + length + 20):
        rates.append(first_group_rate(optimizer))
        optimizer.step()
        built.step()
    return {
        "id": f"{shape}-from-{start}-ratio-{min_lr_ratio}",
        "learning_rate": learning_rate,
        "start": start,
        "length": length,
        "shape": shape,
        "min_lr_ratio": min_lr_ratio,
        "learning_rates": rates,
    }


def cooldown_cases() -> list[Case]:
    """Every decay shape, started at several steps, to 0 and to a floor."""
    return [
        cooldown_case(start, 60, shape, ratio)
        for shape in ("linear", "cosine", "1-sqrt")
        for start, ratio in ((0, 0.0), (17, 0.1), (30, 0.0), (45, 0.02))
    ]


# --- timm ---------------------------------------------------------------------------------------


def timm_case(
    case_id: str,
    timm: types.ModuleType,
    scheduler: str,
    kwargs: dict[str, Any],
    *,
    learning_rate: float = 0.1,
    per_step: bool = False,
) -> Case:
    """One timm scheduler case: TIMM_EPOCHS epochs, or EPOCHS x STEPS_PER_EPOCH updates."""
    classes = {
        "cosine": timm.CosineLRScheduler,
        "step": timm.StepLRScheduler,
        "multistep": timm.MultiStepLRScheduler,
        "poly": timm.PolyLRScheduler,
        "tanh": timm.TanhLRScheduler,
        "wsd": timm.WSDLRScheduler,
    }
    optimizer = one_parameter_sgd(learning_rate)
    built = classes[scheduler](optimizer, t_in_epochs=not per_step, **kwargs)
    rates = []
    for t in range(EPOCHS * STEPS_PER_EPOCH if per_step else TIMM_EPOCHS):
        if per_step:
            built.step_update(t)
        else:
            built.step(t)
        rates.append(first_group_rate(optimizer))
    spec = {
        "type": "timm",
        "unit": "step" if per_step else "epoch",
        "scheduler": scheduler,
        "learning_rate": learning_rate,
        "kwargs": kwargs,
    }
    case: Case = {"id": case_id, "spec": spec, "learning_rates": rates}
    if per_step:
        case.update(epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH)
    else:
        case["epochs"] = TIMM_EPOCHS
    return case


def timm_plateau_case(
    case_id: str,
    timm: types.ModuleType,
    metrics: list[float],
    kwargs: dict[str, Any],
    learning_rate: float = 0.1,
) -> Case:
    """PlateauLRScheduler driven as timm's train.py does: step(epoch + 1, metric of epoch)."""
    optimizer = one_parameter_sgd(learning_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # it is deprecated, and still shipped
        built = timm.PlateauLRScheduler(optimizer, **kwargs)
    rates = [first_group_rate(optimizer)]
    for epoch, value in enumerate(metrics):
        built.step(epoch + 1, value)
        rates.append(first_group_rate(optimizer))
    monitor = "top1" if kwargs.get("mode", "max") == "max" else "val_loss"
    spec = {
        "type": "timm",
        "scheduler": "plateau",
        "learning_rate": learning_rate,
        "monitor": monitor,
        "kwargs": kwargs,
    }
    return plateau_result(case_id, spec, metrics, rates)


def timm_cases() -> list[Case]:
    """Every scheduler class, with warm-up (prefix or not), cycles, k-decay and minimum rates."""
    timm = load_timm_scheduler()
    warm = {"warmup_t": 5, "warmup_lr_init": 1e-4}
    return [
        timm_case("cosine-warmup", timm, "cosine", {"t_initial": 100, "lr_min": 1e-5, **warm}),
        timm_case(
            "cosine-warmup-prefix-k-decay",
            timm,
            "cosine",
            {"t_initial": 120, "k_decay": 2.0, "warmup_prefix": True, **warm},
        ),
        timm_case(
            "cosine-cycles-decay",
            timm,
            "cosine",
            {"t_initial": 30, "cycle_limit": 4, "cycle_decay": 0.5, "lr_min": 1e-4},
        ),
        timm_case(
            "cosine-cycle-mul",
            timm,
            "cosine",
            {"t_initial": 20, "cycle_mul": 2.0, "cycle_limit": 3, "cycle_decay": 0.8, **warm},
        ),
        timm_case(
            "cosine-per-step",
            timm,
            "cosine",
            {"t_initial": 140, "warmup_t": 10, "warmup_lr_init": 1e-5, "lr_min": 1e-6},
            per_step=True,
        ),
        timm_case("step-warmup", timm, "step", {"decay_t": 30, "decay_rate": 0.5, **warm}),
        timm_case(
            "step-no-prefix-fractional",
            timm,
            "step",
            {"decay_t": 2.4, "decay_rate": 0.97, "warmup_prefix": False, **warm},
        ),
        timm_case(
            "multistep-warmup",
            timm,
            "multistep",
            {"decay_t": [30, 60, 90], "decay_rate": 0.1, **warm},
        ),
        timm_case(
            "multistep-repeats-no-prefix",
            timm,
            "multistep",
            {"decay_t": [10, 40, 40, 100], "decay_rate": 0.5, "warmup_prefix": False, **warm},
        ),
        timm_case("poly-default", timm, "poly", {"t_initial": 100, **warm}),
        timm_case(
            "poly-power2-cycles-k-decay",
            timm,
            "poly",
            {"t_initial": 40, "power": 2.0, "cycle_limit": 3, "k_decay": 0.5, "lr_min": 1e-4},
        ),
        timm_case("tanh-warmup", timm, "tanh", {"t_initial": 100, "lr_min": 1e-5, **warm}),
        timm_case(
            "tanh-prefix-cycles",
            timm,
            "tanh",
            {"t_initial": 40, "cycle_limit": 3, "cycle_decay": 0.7, "warmup_prefix": True, **warm},
        ),
        timm_case(
            "tanh-cycle-mul-bounds",
            timm,
            "tanh",
            {"t_initial": 25, "cycle_mul": 1.5, "cycle_limit": 4, "lb": -5.0, "ub": 4.0},
        ),
        timm_case("wsd-1-sqrt", timm, "wsd", {"t_initial": 120, "decay_t": 30, **warm}),
        timm_case(
            "wsd-linear-min",
            timm,
            "wsd",
            {"t_initial": 100, "decay_t": 40, "decay_fn": "linear", "lr_min": 1e-3},
        ),
        timm_case(
            "wsd-cosine-rsqrt",
            timm,
            "wsd",
            {"t_initial": 130, "decay_t": 20, "decay_fn": "cosine", "stable_fn": "rsqrt", **warm},
        ),
        timm_case(
            "wsd-power-power",
            timm,
            "wsd",
            {
                "t_initial": 140,
                "decay_t": 50,
                "decay_fn": "power",
                "decay_power": 2.0,
                "stable_fn": "power",
                "stable_timescale": 15.0,
                "stable_power": 0.3,
            },
        ),
        timm_case(
            "wsd-exp-per-step",
            timm,
            "wsd",
            {"t_initial": 120, "decay_t": 60, "decay_fn": "exp", "decay_ratio": 0.05, **warm},
            per_step=True,
        ),
        timm_plateau_case(
            "plateau-warmup-max",
            timm,
            rising_accuracy(41, 120, 0.01),
            {"decay_rate": 0.5, "patience_t": 2, "cooldown_t": 1, **warm},
        ),
        timm_plateau_case(
            "plateau-min-lr-min",
            timm,
            noisy_loss(42, 120, 0.02),
            {"mode": "min", "patience_t": 1, "lr_min": 1e-3, "threshold": 0.01},
        ),
    ]


# --- output -------------------------------------------------------------------------------------


def header(family: str, version: Callable[[], str]) -> Callable[[], dict[str, str]]:
    """The file's header: the library's version, and torch's, which drove its schedulers."""
    return lambda: {"family": family, "version": version(), "torch_version": torch.__version__}


# family (the output file's name) -> (header, case builder)
FAMILIES = {
    "transformers": (header("transformers", lambda: transformers.__version__), transformers_cases),
    "timm": (header("timm", _timm_version), timm_cases),
    "cooldown": (header("cooldown", lambda: transformers.__version__), cooldown_cases),
}


def main() -> None:
    """Write one JSON file per library."""
    write_families(__doc__.splitlines()[0], DEFAULT_OUT, FAMILIES)


if __name__ == "__main__":
    main()
