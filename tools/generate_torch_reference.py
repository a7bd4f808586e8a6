"""Write PyTorch learning-rate reference sequences for lrhub's exactness tests.

Run with torch installed (`pip install torch`):

    python tools/generate_torch_reference.py [--out tests/data/torch]

Each output file (one per PyTorch scheduler) holds the torch version and a list of cases. A case
has an `id`, the equivalent lrhub `spec`, the `epochs` (and `steps_per_epoch` for per-step
schedules) to preview, the `metrics` observed at the end of each epoch (plateau only) and
`learning_rates`: what torch's optimizer held at each epoch (or step). The output is
deterministic: metric sequences come from seeded `random.Random` generators, never from torch.

Alignment: torch's `ReduceLROnPlateau.step(metric of epoch N)` sets the rate of epoch N+1, exactly
like lrhub's `decide(epoch=N+1, metrics=...)`; per-step schedulers (CyclicLR, OneCycleLR) are read
before every `scheduler.step()`, so rate i is the rate of global step i.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import torch
from torch.optim import SGD, Optimizer, lr_scheduler

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "torch"

Case = dict[str, Any]


def one_parameter_sgd(learning_rate: float) -> Optimizer:
    # One parameter without gradients: optimizer.step() is a no-op, which keeps torch from
    # warning that the scheduler stepped before the optimizer.
    return SGD([torch.nn.Parameter(torch.zeros(1))], lr=learning_rate)


def first_group_rate(optimizer: Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# --- metric sequences ---------------------------------------------------------------------------


def noisy_loss(seed: int, epochs: int, noise: float) -> list[float]:
    """A loss that decays towards a floor with Gaussian noise: plateaus appear naturally."""
    rng = random.Random(seed)
    return [round(0.2 + 1.5 * math.exp(-t / 12) + rng.gauss(0, noise), 4) for t in range(epochs)]


def uniform_metric(seed: int, epochs: int, low: float, high: float) -> list[float]:
    """Independent uniform values: improvements get rarer as the best value extends."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 4) for _ in range(epochs)]


def stepped_plateaus(seed: int, epochs: int, step: float) -> list[float]:
    """Flat levels (exact repeats, so ties) that drop by `step` at random epochs."""
    rng = random.Random(seed)
    level, values = 1.0, []
    for _ in range(epochs):
        if rng.random() < 0.15:
            level -= step
        values.append(round(level, 6))
    return values


def rising_accuracy(seed: int, epochs: int, noise: float) -> list[float]:
    """An accuracy-like curve rising to a ceiling, with noise (for mode max)."""
    rng = random.Random(seed)
    return [
        round(0.5 + 0.45 / (1 + math.exp(-(t - 15) / 5)) + rng.gauss(0, noise), 4)
        for t in range(epochs)
    ]


def negative_log_likelihood(seed: int, epochs: int) -> list[float]:
    """A negative, rising metric (a log-likelihood in mode max): rel thresholds flip sign."""
    rng = random.Random(seed)
    return [
        round(-2.0 + 1.8 * (1 - math.exp(-t / 10)) + rng.gauss(0, 0.05), 4) for t in range(epochs)
    ]


# --- ReduceLROnPlateau --------------------------------------------------------------------------


def torch_plateau_rates(
    settings: dict[str, Any], initial: float, metrics: list[float]
) -> list[float]:
    """Rates of epochs 0..len(metrics): epoch N+1's rate is set by step(metric of epoch N)."""
    optimizer = one_parameter_sgd(initial)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, **settings)
    rates = [first_group_rate(optimizer)]
    for value in metrics:
        optimizer.step()
        scheduler.step(value)
        rates.append(first_group_rate(optimizer))
    return rates


def plateau_case(
    case_id: str,
    metrics: list[float],
    *,
    initial: float = 0.1,
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
) -> Case:
    """One ReduceLROnPlateau case: torch settings and the equivalent lrhub spec."""
    monitor = "val_loss" if mode == "min" else "val_accuracy"
    settings = {
        "mode": mode,
        "factor": factor,
        "patience": patience,
        "threshold": threshold,
        "threshold_mode": threshold_mode,
        "cooldown": cooldown,
        "min_lr": min_lr,
    }
    spec = {
        "type": "reduce_on_plateau",
        "semantics": "torch",
        "monitor": monitor,
        "initial_learning_rate": initial,
        "mode": mode,
        "factor": factor,
        "patience": patience,
        "min_delta": threshold,
        "threshold_mode": threshold_mode,
        "cooldown": cooldown,
        "min_lr": min_lr,
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": len(metrics) + 1,
        "metrics": [{monitor: value} for value in metrics],
        "learning_rates": torch_plateau_rates(settings, initial, metrics),
    }


def plateau_cases() -> list[Case]:
    """Modes, threshold modes and sizes, cooldown, min_lr, patience variants, eps."""
    return [
        plateau_case("defaults-noisy-loss", noisy_loss(1, 150, 0.02)),
        plateau_case("patience0-factor05", noisy_loss(2, 100, 0.03), patience=0, factor=0.5),
        plateau_case("patience1-cooldown2", noisy_loss(3, 120, 0.02), patience=1, cooldown=2),
        plateau_case("patience3-cooldown5", noisy_loss(4, 120, 0.01), patience=3, cooldown=5),
        plateau_case(
            "patience2-minlr-clamp", noisy_loss(5, 120, 0.02), patience=2, factor=0.5, min_lr=2e-3
        ),
        plateau_case(
            "minlr-reached-exactly",
            uniform_metric(6, 80, 0.5, 1.0),
            patience=1,
            factor=0.5,
            initial=0.08,
            min_lr=0.01,
        ),
        plateau_case(
            "abs-threshold-001",
            noisy_loss(7, 120, 0.01),
            patience=2,
            threshold=0.01,
            threshold_mode="abs",
        ),
        plateau_case(
            "abs-threshold-0",
            stepped_plateaus(8, 100, 0.05),
            patience=2,
            threshold=0.0,
            threshold_mode="abs",
        ),
        plateau_case(
            "rel-threshold-0-ties", stepped_plateaus(9, 100, 0.03), patience=1, threshold=0.0
        ),
        plateau_case("rel-threshold-005", noisy_loss(10, 120, 0.02), patience=1, threshold=0.05),
        plateau_case(
            "abs-threshold-equals-step",
            stepped_plateaus(11, 100, 0.1),
            patience=1,
            threshold=0.1,
            threshold_mode="abs",
        ),
        plateau_case(
            "uniform-long", uniform_metric(12, 200, 0.0, 1.0), patience=4, factor=0.7, cooldown=1
        ),
        plateau_case("max-rel", rising_accuracy(13, 120, 0.01), mode="max", patience=2, factor=0.5),
        plateau_case(
            "max-abs-cooldown",
            rising_accuracy(14, 120, 0.02),
            mode="max",
            patience=3,
            threshold=0.005,
            threshold_mode="abs",
            cooldown=3,
        ),
        plateau_case(
            "max-rel-negative-metric",
            negative_log_likelihood(15, 100),
            mode="max",
            patience=1,
            threshold=0.01,
        ),
        plateau_case(
            "min-rel-negative-metric",
            [-value for value in negative_log_likelihood(16, 100)],
            patience=1,
            threshold=0.01,
        ),
        plateau_case(
            "max-uniform-minlr",
            uniform_metric(17, 150, 0.0, 1.0),
            mode="max",
            patience=0,
            factor=0.3,
            min_lr=1e-3,
        ),
        # Below eps (1e-8) torch skips a reduction whose size is too small to matter.
        plateau_case(
            "eps-stops-tiny-reductions",
            uniform_metric(18, 80, 0.0, 1.0),
            patience=0,
            factor=0.5,
            initial=1e-7,
        ),
        plateau_case(
            "patience0-cooldown1-ties",
            stepped_plateaus(19, 100, 0.02),
            patience=0,
            cooldown=1,
            factor=0.5,
        ),
        plateau_case("patience5-factor09", noisy_loss(20, 200, 0.04), patience=5, factor=0.9),
    ]


# --- MultiStepLR --------------------------------------------------------------------------------


def per_epoch_rates(scheduler: lr_scheduler.LRScheduler, epochs: int) -> list[float]:
    """The optimizer's rate at epochs 0..epochs-1, stepping the scheduler after each epoch."""
    rates = []
    for _ in range(epochs):
        rates.append(first_group_rate(scheduler.optimizer))
        scheduler.optimizer.step()
        scheduler.step()
    return rates


def multi_step_case(
    case_id: str, initial: float, milestones: list[int], gamma: float, epochs: int
) -> Case:
    """One MultiStepLR case."""
    scheduler = lr_scheduler.MultiStepLR(
        one_parameter_sgd(initial), milestones=milestones, gamma=gamma
    )
    spec = {
        "type": "multi_step",
        "initial_learning_rate": initial,
        "milestones": milestones,
        "gamma": gamma,
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": epochs,
        "learning_rates": per_epoch_rates(scheduler, epochs),
    }


def multi_step_cases() -> list[Case]:
    """Plain, repeated, zero and past-the-end milestones."""
    return [
        multi_step_case("two-milestones", 0.1, [30, 80], 0.1, 100),
        multi_step_case("repeated-milestones", 0.05, [5, 5, 10, 20, 20, 20], 0.5, 40),
        multi_step_case("milestone-zero", 0.1, [0, 3], 0.2, 10),
        multi_step_case("dense-gamma-09", 1.0, list(range(1, 60, 2)), 0.9, 64),
        multi_step_case("milestone-beyond-run", 0.01, [7, 500], 0.3, 30),
    ]


# --- CyclicLR -----------------------------------------------------------------------------------


def per_step_rates(scheduler: lr_scheduler.LRScheduler, steps: int) -> list[float]:
    """The optimizer's rate before each of `steps` scheduler steps."""
    return per_epoch_rates(scheduler, steps)


def cyclic_case(
    case_id: str,
    base: float,
    top: float,
    up: int,
    down: int | None,
    mode: Literal["triangular", "triangular2", "exp_range"],
    gamma: float,
    epochs: int,
    steps_per_epoch: int,
) -> Case:
    """One CyclicLR case, stepped once per batch."""
    scheduler = lr_scheduler.CyclicLR(
        one_parameter_sgd(base),
        base_lr=base,
        max_lr=top,
        step_size_up=up,
        step_size_down=down,
        mode=mode,
        gamma=gamma,
        cycle_momentum=False,
    )
    spec = {
        "type": "cyclic",
        "unit": "step",
        "base_learning_rate": base,
        "max_learning_rate": top,
        "step_size_up": up,
        "step_size_down": down,
        "mode": mode,
        "gamma": gamma,
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "learning_rates": per_step_rates(scheduler, epochs * steps_per_epoch),
    }


def cyclic_cases() -> list[Case]:
    """The three modes, symmetric and asymmetric cycles, odd sizes."""
    return [
        # id, base, max, step_size_up, step_size_down, mode, gamma, epochs, steps_per_epoch
        cyclic_case("triangular-symmetric", 1e-3, 6e-3, 20, None, "triangular", 1.0, 10, 30),
        cyclic_case("triangular-down-10", 1e-3, 6e-3, 20, 10, "triangular", 1.0, 8, 25),
        cyclic_case("triangular-odd-sizes", 0.01, 0.1, 7, 3, "triangular", 1.0, 6, 17),
        cyclic_case("triangular2", 1e-4, 1e-2, 15, 25, "triangular2", 1.0, 10, 30),
        cyclic_case("exp-range-099", 1e-3, 1e-2, 10, None, "exp_range", 0.99, 10, 20),
        cyclic_case("exp-range-asymmetric", 1e-3, 5e-3, 20, 5, "exp_range", 0.9995, 12, 25),
    ]


# --- OneCycleLR ---------------------------------------------------------------------------------


def one_cycle_case(
    case_id: str,
    top: float,
    epochs: int,
    steps_per_epoch: int,
    pct_start: float,
    anneal_strategy: Literal["cos", "linear"],
    three_phase: bool,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Case:
    """One OneCycleLR case over exactly its total_steps (torch refuses to step further)."""
    total_steps = epochs * steps_per_epoch
    scheduler = lr_scheduler.OneCycleLR(
        one_parameter_sgd(top),
        max_lr=top,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=three_phase,
        cycle_momentum=False,
    )
    spec = {
        "type": "one_cycle",
        "unit": "step",
        "max_learning_rate": top,
        "total_steps": total_steps,
        "pct_start": pct_start,
        "anneal_strategy": anneal_strategy,
        "div_factor": div_factor,
        "final_div_factor": final_div_factor,
        "three_phase": three_phase,
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "learning_rates": per_step_rates(scheduler, total_steps),
    }


def one_cycle_cases() -> list[Case]:
    """Both anneal strategies, three phases, divisors, phase ends between steps."""
    return [
        # id, max, epochs, steps_per_epoch, pct_start, anneal_strategy, three_phase[, divisors]
        one_cycle_case("cos-defaults", 0.1, 10, 10, 0.3, "cos", False),
        one_cycle_case("linear", 0.1, 10, 10, 0.3, "linear", False),
        one_cycle_case("three-phase-cos", 0.05, 8, 25, 0.3, "cos", True),
        one_cycle_case("three-phase-linear", 0.05, 8, 25, 0.3, "linear", True),
        one_cycle_case("div-factors", 1.0, 6, 10, 0.3, "cos", False, 10.0, 100.0),
        one_cycle_case("pct-025-odd-total", 0.2, 1, 97, 0.25, "cos", False),
        one_cycle_case("pct-045-three-phase-odd", 0.3, 3, 21, 0.45, "cos", True),
    ]


# --- SequentialLR -------------------------------------------------------------------------------

StageFactory = Callable[[Optimizer], lr_scheduler.LRScheduler]


def sequential_case(
    case_id: str,
    initial: float,
    stages: Iterable[tuple[StageFactory, dict[str, Any]]],
    milestones: list[int],
    epochs: int,
) -> Case:
    """One SequentialLR case; stage i runs from milestone i-1 and restarts its own t at 0."""
    optimizer = one_parameter_sgd(initial)
    factories, specs = zip(*stages, strict=True)
    schedulers = [factory(optimizer) for factory in factories]
    scheduler = lr_scheduler.SequentialLR(optimizer, schedulers, milestones=milestones)
    bounds = [0, *milestones]
    durations: list[int | None] = [end - start for start, end in itertools.pairwise(bounds)]
    durations.append(None)
    spec = {
        "type": "sequence",
        "stages": [
            {"schedule": stage, "duration": duration}
            for stage, duration in zip(specs, durations, strict=True)
        ],
    }
    return {
        "id": case_id,
        "spec": spec,
        "epochs": epochs,
        "learning_rates": per_epoch_rates(scheduler, epochs),
    }


def sequential_cases() -> list[Case]:
    """Warm-up then cosine; warm-up, step decay, milestones; exponential then constant-ish."""
    base = 0.1
    warmup = (
        lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5),
        {
            "type": "linear",
            "start_learning_rate": base * 0.1,
            "end_learning_rate": base,
            "duration": 5,
        },
    )
    cosine = (
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=1e-4),
        {
            "type": "cosine_decay",
            "initial_learning_rate": base,
            "decay_steps": 20,
            "alpha": 1e-4 / base,
        },
    )
    step = (
        lambda opt: lr_scheduler.StepLR(opt, step_size=4, gamma=0.5),
        {"type": "step_decay", "initial_learning_rate": base, "drop": 0.5, "every": 4},
    )
    multi = (
        lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[2, 6], gamma=0.3),
        {"type": "multi_step", "initial_learning_rate": base, "milestones": [2, 6], "gamma": 0.3},
    )
    exponential = (
        lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.9),
        {
            "type": "exponential_decay",
            "initial_learning_rate": base,
            "decay_steps": 1,
            "decay_rate": 0.9,
        },
    )
    return [
        sequential_case("warmup-cosine", base, [warmup, cosine], [5], 26),
        sequential_case("warmup-step-multistep", base, [warmup, step, multi], [3, 15], 30),
        sequential_case(
            "exponential-warmup-exponential", base, [exponential, warmup, exponential], [6, 12], 24
        ),
    ]


# --- momentum (beta1) cycled by CyclicLR and OneCycleLR -----------------------------------------


def momentum_case(
    case_id: str,
    optimizer_name: Literal["SGD", "Adam"],
    scheduler_name: Literal["CyclicLR", "OneCycleLR"],
    torch_kwargs: dict[str, Any],
    spec: dict[str, Any],
    epochs: int,
    steps_per_epoch: int,
) -> Case:
    """Rates and momentums (SGD's momentum, Adam's betas[0]) before every step, with torch's
    default momentum cycling."""
    parameters = [torch.nn.Parameter(torch.zeros(1))]
    optimizer: Optimizer = (
        SGD(parameters, lr=0.1, momentum=0.9)
        if optimizer_name == "SGD"
        else torch.optim.Adam(parameters, lr=0.1)
    )
    scheduler = getattr(lr_scheduler, scheduler_name)(optimizer, **torch_kwargs)
    rates, momentums = [], []
    for _ in range(epochs * steps_per_epoch):
        group = optimizer.param_groups[0]
        rates.append(float(group["lr"]))
        momentums.append(float(group["momentum"] if optimizer_name == "SGD" else group["betas"][0]))
        optimizer.step()
        scheduler.step()
    return {
        "id": case_id,
        "spec": {**spec, "unit": "step"},
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "learning_rates": rates,
        "momentums": momentums,
    }


def momentum_cases() -> list[Case]:
    """Default momentum cycling of both schedulers on SGD and on Adam, plus other bounds."""
    cyclic = {"base_lr": 1e-3, "max_lr": 1e-2, "step_size_up": 15, "step_size_down": 10}
    cyclic_spec = {
        "type": "cyclic",
        "base_learning_rate": 1e-3,
        "max_learning_rate": 1e-2,
        "step_size_up": 15,
        "step_size_down": 10,
    }
    one_cycle = {"max_lr": 0.1, "total_steps": 120}
    one_cycle_spec = {"type": "one_cycle", "max_learning_rate": 0.1, "total_steps": 120}
    return [
        momentum_case("cyclic-sgd", "SGD", "CyclicLR", cyclic, cyclic_spec, 4, 30),
        momentum_case("cyclic-adam", "Adam", "CyclicLR", cyclic, cyclic_spec, 4, 30),
        momentum_case(
            "cyclic-triangular2-bounds",
            "SGD",
            "CyclicLR",
            {**cyclic, "mode": "triangular2", "base_momentum": 0.7, "max_momentum": 0.95},
            {**cyclic_spec, "mode": "triangular2", "base_momentum": 0.7, "max_momentum": 0.95},
            4,
            30,
        ),
        momentum_case(
            "cyclic-exp-range",
            "Adam",
            "CyclicLR",
            {**cyclic, "mode": "exp_range", "gamma": 0.99},
            {**cyclic_spec, "mode": "exp_range", "gamma": 0.99},
            4,
            30,
        ),
        momentum_case("one-cycle-sgd", "SGD", "OneCycleLR", one_cycle, one_cycle_spec, 4, 30),
        momentum_case("one-cycle-adam", "Adam", "OneCycleLR", one_cycle, one_cycle_spec, 4, 30),
        momentum_case(
            "one-cycle-three-phase-linear",
            "SGD",
            "OneCycleLR",
            {**one_cycle, "three_phase": True, "anneal_strategy": "linear", "base_momentum": 0.8},
            {
                **one_cycle_spec,
                "three_phase": True,
                "anneal_strategy": "linear",
                "base_momentum": 0.8,
            },
            4,
            30,
        ),
    ]


# --- ChainedScheduler ---------------------------------------------------------------------------


def chained_case(
    case_id: str,
    initial: float,
    factors: Iterable[tuple[StageFactory, dict[str, Any]]],
    epochs: int,
) -> Case:
    """One ChainedScheduler case: the first factor's spec gives the rate, the others (written
    with an initial rate of 1) multiply it."""
    optimizer = one_parameter_sgd(initial)
    factories, specs = zip(*factors, strict=True)
    scheduler = lr_scheduler.ChainedScheduler([factory(optimizer) for factory in factories])
    return {
        "id": case_id,
        "spec": {"type": "product", "factors": list(specs)},
        "epochs": epochs,
        "learning_rates": per_epoch_rates(scheduler, epochs),
    }


def chained_cases() -> list[Case]:
    """Warm-up times decay, three step-shaped factors, warm-up times cosine."""
    base = 0.1

    def exponential(gamma: float, rate: float = 1.0) -> tuple[StageFactory, dict[str, Any]]:
        return (
            lambda opt: lr_scheduler.ExponentialLR(opt, gamma=gamma),
            {
                "type": "exponential_decay",
                "initial_learning_rate": rate,
                "decay_steps": 1,
                "decay_rate": gamma,
            },
        )

    constant_then_base = (
        lambda opt: lr_scheduler.ConstantLR(opt, factor=0.1, total_iters=5),
        {"type": "piecewise_constant_decay", "boundaries": [4], "values": [base * 0.1, base]},
    )
    warmup = (
        lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=10),
        {
            "type": "linear",
            "start_learning_rate": base * 0.1,
            "end_learning_rate": base,
            "duration": 10,
        },
    )
    step = (
        lambda opt: lr_scheduler.StepLR(opt, step_size=10, gamma=0.5),
        {"type": "step_decay", "initial_learning_rate": base, "drop": 0.5, "every": 10},
    )
    multi = (
        lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[30, 60], gamma=0.1),
        {"type": "multi_step", "initial_learning_rate": 1.0, "milestones": [30, 60]},
    )
    cosine = (
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=100),
        {"type": "cosine_decay", "initial_learning_rate": 1.0, "decay_steps": 100},
    )
    return [
        chained_case(
            "constant-times-exponential", base, [constant_then_base, exponential(0.95)], 100
        ),
        chained_case("step-exponential-multistep", base, [step, exponential(0.98), multi], 100),
        chained_case("warmup-times-cosine", base, [warmup, cosine], 100),
    ]


# --- output -------------------------------------------------------------------------------------

# family (the output file's name) -> (torch scheduler, case builder)
FAMILIES: dict[str, tuple[str, Callable[[], list[Case]]]] = {
    "reduce_on_plateau": ("ReduceLROnPlateau", plateau_cases),
    "multi_step": ("MultiStepLR", multi_step_cases),
    "cyclic": ("CyclicLR", cyclic_cases),
    "one_cycle": ("OneCycleLR", one_cycle_cases),
    "sequential": ("SequentialLR", sequential_cases),
    "chained": ("ChainedScheduler", chained_cases),
    "momentum": ("CyclicLR, OneCycleLR", momentum_cases),
}


def render(header: dict[str, str], cases: list[Case]) -> str:
    """Deterministic JSON, one case per line so diffs stay readable (`header` keeps its order)."""
    head = json.dumps(header)
    lines = ",\n".join(json.dumps(case, sort_keys=True) for case in cases)
    return f'{head[:-1]}, "cases": [\n{lines}\n]}}\n'


def write_families(
    description: str,
    default_out: Path,
    families: dict[str, tuple[Callable[[], dict[str, str]], Callable[[], list[Case]]]],
) -> None:
    """Write one `<family>.json` per entry (its header, then its cases) into `--out`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=default_out)
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for family, (header, build) in families.items():
        path = out / f"{family}.json"
        path.write_text(render(header(), build()))
        print(f"wrote {path} ({path.stat().st_size} bytes)")


def torch_header(family: str, scheduler: str) -> Callable[[], dict[str, str]]:
    """The file's header: torch's version and the scheduler the cases come from."""
    return lambda: {"torch_version": torch.__version__, "scheduler": scheduler, "family": family}


def main() -> None:
    """Write one JSON file per scheduler family."""
    write_families(
        __doc__.splitlines()[0],
        DEFAULT_OUT,
        {
            family: (torch_header(family, scheduler), build)
            for family, (scheduler, build) in FAMILIES.items()
        },
    )


if __name__ == "__main__":
    main()
