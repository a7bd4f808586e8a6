"""The rollout judge as a pure function: relative changes, medians, left-out jobs, waiting."""

from __future__ import annotations

import statistics

import pytest

from lrhub.service.rollouts.judge import Observation, judge, relative_change
from lrhub.service.rollouts.model import Analysis, Baseline, Direction

MIN_LOSS = Analysis(metric="val_loss", mode=Direction.MIN, epochs=2, max_regression=0.02)


def _job(job_id: str, cohort: str, base: float, later: float, **flags: bool) -> Observation:
    return Observation(job_id, cohort, Baseline(epoch=4, value=base), {5: base, 6: later}, **flags)


def test_relative_change_turns_its_sign_for_max() -> None:
    assert relative_change(2.0, 1.5, Direction.MIN) == pytest.approx(-0.25)
    assert relative_change(2.0, 1.5, Direction.MAX) == pytest.approx(0.25)
    assert relative_change(-2.0, -1.0, Direction.MIN) == pytest.approx(0.5)


def test_the_verdict_compares_the_cohorts_medians() -> None:
    canary = [_job(f"a{i}", "canary", 1.0, later) for i, later in enumerate((0.9, 0.95, 2.0))]
    control = [_job(f"b{i}", "control", 1.0, later) for i, later in enumerate((0.9, 0.92, 0.94))]
    verdict = judge(MIN_LOSS, canary + control)
    assert verdict is not None
    assert verdict.canary_median == pytest.approx(statistics.median([-0.1, -0.05, 1.0]))
    assert verdict.control_median == pytest.approx(-0.08)
    # 0.03 worse than the control: past max_regression 0.02, one diverging job did not decide it.
    assert verdict.passed is False
    looser = Analysis("val_loss", Direction.MIN, 2, max_regression=0.04)
    assert judge(looser, canary + control).passed is True  # type: ignore[union-attr]


def test_the_verdict_waits_for_every_running_job() -> None:
    waiting = Observation("a1", "canary", Baseline(4, 1.0), {5: 0.9})
    control = [_job("b1", "control", 1.0, 0.9)]
    assert judge(MIN_LOSS, [waiting, *control]) is None
    finished = Observation("a1", "canary", Baseline(4, 1.0), {5: 0.9}, finished=True)
    ready = [_job("a2", "canary", 1.0, 0.9), finished, *control]
    verdict = judge(MIN_LOSS, ready)
    assert verdict is not None and verdict.passed
    left = {figure.job_id: figure.left_out for figure in verdict.jobs}
    assert left == {"a2": None, "a1": "finished before epoch 6", "b1": None}


def test_jobs_without_a_usable_baseline_are_left_out() -> None:
    jobs = [
        Observation("a1", "canary", None, {6: 1.0}),
        Observation("a2", "canary", Baseline(4, 0.0), {6: 1.0}),
        Observation("a3", "canary", Baseline(4, 1.0), {}, stale=True),
        _job("b1", "control", 1.0, 0.9),
    ]
    verdict = judge(MIN_LOSS, jobs)
    assert verdict is not None and verdict.passed is False
    assert verdict.canary_median is None
    assert [figure.left_out for figure in verdict.jobs[:3]] == [
        "no val_loss reported before the change",
        "its baseline val_loss is 0: no relative change",
        "went stale before epoch 6",
    ]
