"""The engine reproduces PyTorch's schedulers.

The sequences in tests/data/torch/ were recorded from torch itself by
tools/generate_torch_reference.py (rerun it to refresh them); this test needs no torch.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from lrhub.schedules import parse_spec, preview
from tests.schedules.helpers_reference import change_epochs, epoch_rates, plateau_rates, step_rates

DATA = Path(__file__).resolve().parent.parent / "data" / "torch"
FAMILIES = (
    "reduce_on_plateau",
    "multi_step",
    "cyclic",
    "one_cycle",
    "sequential",
    "chained",
    "momentum",
)

# Both sides compute in float64; the engine may order the arithmetic differently.
REL = 1e-9


@cache
def reference(family: str) -> dict[str, Any]:
    """The recorded file of one family."""
    data: dict[str, Any] = json.loads((DATA / f"{family}.json").read_text())
    return data


def cases(family: str) -> list[Any]:
    """The recorded cases of one family as pytest params named after the case."""
    return [pytest.param(case, id=case["id"]) for case in reference(family)["cases"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_files_record_their_origin(family: str) -> None:
    data = reference(family)
    assert data["family"] == family
    assert data["torch_version"]
    assert data["cases"], f"{family}.json holds no cases"


@pytest.mark.parametrize("case", cases("reduce_on_plateau"))
def test_reduce_on_plateau_matches_torch(case: dict[str, Any]) -> None:
    expected = case["learning_rates"]
    rates = plateau_rates(case["spec"], case["metrics"])
    assert change_epochs(rates) == change_epochs(expected)
    assert rates == pytest.approx(expected, rel=REL, abs=0)


@pytest.mark.parametrize("case", cases("multi_step") + cases("sequential") + cases("chained"))
def test_per_epoch_schedule_matches_torch(case: dict[str, Any]) -> None:
    rates = epoch_rates(case["spec"], case["epochs"])
    assert rates == pytest.approx(case["learning_rates"], rel=REL, abs=0)


@pytest.mark.parametrize("case", cases("cyclic") + cases("one_cycle"))
def test_per_step_schedule_matches_torch(case: dict[str, Any]) -> None:
    rates = step_rates(case["spec"], case["epochs"], case["steps_per_epoch"])
    assert rates == pytest.approx(case["learning_rates"], rel=REL, abs=0)


@pytest.mark.parametrize("case", cases("cyclic") + cases("one_cycle"))
def test_per_step_schedule_with_unit_epoch_counts_epochs(case: dict[str, Any]) -> None:
    """With unit "epoch" the same spec's t counts epochs: epoch i gets torch's step-i rate."""
    expected = case["learning_rates"]
    rates = epoch_rates({**case["spec"], "unit": "epoch"}, len(expected))
    assert rates == pytest.approx(expected, rel=REL, abs=0)


@pytest.mark.parametrize("case", cases("momentum"))
def test_momentum_matches_torch(case: dict[str, Any]) -> None:
    """With torch's default cycle_momentum, the momentum (SGD) or beta1 (Adam) of every step."""
    spec = parse_spec(case["spec"])
    result = preview(spec, case["epochs"], steps_per_epoch=case["steps_per_epoch"])
    assert result.step_momentums is not None and result.step_learning_rates is not None
    momentums = [m for epoch in result.step_momentums for m in epoch or []]
    rates = [rate for epoch in result.step_learning_rates for rate in epoch]
    assert rates == pytest.approx(case["learning_rates"], rel=REL, abs=0)
    assert momentums == pytest.approx(case["momentums"], rel=REL, abs=0)
    assert result.momentums == [epoch[0] for epoch in result.step_momentums if epoch]


@pytest.mark.parametrize("case", cases("cyclic") + cases("one_cycle"))
def test_cycle_momentum_off_schedules_no_momentum(case: dict[str, Any]) -> None:
    result = preview(parse_spec({**case["spec"], "unit": "epoch", "cycle_momentum": False}), 2)
    assert result.momentums is None
