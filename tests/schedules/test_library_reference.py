"""The engine reproduces Transformers' `get_scheduler` and timm's scheduler classes.

The sequences in tests/data/libraries/ were recorded from the libraries themselves by
tools/generate_library_references.py (rerun it to refresh them); this test needs neither.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lrhub.schedules import Cooldown, OperatorSettings, answer_epoch, parse_spec
from lrhub.schedules.specs import TIMM_KWARGS, TRANSFORMERS_KWARGS
from tests.schedules.helpers_reference import change_epochs, epoch_rates, plateau_rates, step_rates

DATA = Path(__file__).resolve().parent.parent / "data" / "libraries"
FAMILIES = ("transformers", "timm")  # and cooldown.json, Transformers' WSD decay from a step

# Both sides compute in float64 with the libraries' own operations.
REL = 1e-12


@cache
def reference(family: str) -> dict[str, Any]:
    """The recorded file of one library."""
    data: dict[str, Any] = json.loads((DATA / f"{family}.json").read_text())
    return data


def cases(family: str) -> list[Any]:
    """The recorded cases of one library as pytest params named after the case."""
    return [pytest.param(case, id=f"{family}-{case['id']}") for case in reference(family)["cases"]]


ALL_CASES = cases("transformers") + cases("timm")


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_files_cover_every_scheduler(family: str) -> None:
    data = reference(family)
    assert data["family"] == family and data["version"]
    recorded = {case["spec"]["scheduler"] for case in data["cases"]}
    assert recorded == set(TRANSFORMERS_KWARGS if family == "transformers" else TIMM_KWARGS)
    for case in data["cases"]:
        assert len(case["learning_rates"]) >= 100, case["id"]


@pytest.mark.parametrize("case", ALL_CASES)
def test_library_schedule_matches(case: dict[str, Any]) -> None:
    expected = case["learning_rates"]
    if "metrics" in case:
        rates = plateau_rates(case["spec"], case["metrics"])
        assert change_epochs(rates) == change_epochs(expected)
    elif "steps_per_epoch" in case:
        rates = step_rates(case["spec"], case["epochs"], case["steps_per_epoch"])
    else:
        rates = epoch_rates(case["spec"], case["epochs"])
    assert rates == pytest.approx(expected, rel=REL, abs=0)


def cooled_rates(case: dict[str, Any], steps_per_epoch: int) -> list[float]:
    """A constant-rate job given a cooldown before the decision of the epoch holding step
    `start`, decided epoch by epoch as the service does (the started cooldown carried on)."""
    spec = parse_spec({"type": "constant", "unit": "step", "learning_rate": case["learning_rate"]})
    low = case["learning_rate"] * case["min_lr_ratio"]
    cooldown: Cooldown | None = None
    rates: list[float] = []
    for epoch in range(len(case["learning_rates"]) // steps_per_epoch):
        if epoch * steps_per_epoch == case["start"]:
            cooldown = Cooldown(case["length"], "step", case["shape"], min_learning_rate=low)
        answered = answer_epoch(
            spec,
            None,
            epoch=epoch,
            metrics=None,
            steps_per_epoch=steps_per_epoch,
            clock_origin=0,
            settings=OperatorSettings(cooldown=cooldown),
        )
        cooldown = answered.cooldown
        assert answered.answer.step_learning_rates is not None
        rates.extend(answered.answer.step_learning_rates)
    return rates


@pytest.mark.parametrize("case", cases("cooldown"))
def test_a_cooldown_started_at_any_step_matches_transformers_wsd_decay(
    case: dict[str, Any],
) -> None:
    expected = case["learning_rates"]
    assert cooled_rates(case, 1) == pytest.approx(expected, rel=REL, abs=0)
    # Per-step epochs: the cooldown starts with the epoch that holds its first step.
    if case["start"] % 5 == 0 and len(expected) % 5 == 0:
        assert cooled_rates(case, 5) == pytest.approx(expected, rel=REL, abs=0)
