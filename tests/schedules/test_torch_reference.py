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

from tests.schedules.helpers_reference import change_epochs, epoch_rates, plateau_rates, step_rates

DATA = Path(__file__).resolve().parent.parent / "data" / "torch"
FAMILIES = ("reduce_on_plateau", "multi_step", "cyclic", "one_cycle", "sequential", "chained")

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
