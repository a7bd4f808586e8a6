"""The rollout judge: a pure function of the analysis and what each cohort job reported.

Each cohort job's baseline is its metric at the last epoch it reported before the change; once it
has reported `epochs` more, its relative change is `(m - m_base) / |m_base|`, sign turned for
`max` so that lower is always better. The canary fails when its median relative change is worse
than the control's median by more than `max_regression`. A job that finished or went stale
before reaching its epoch, or that had no usable baseline, is left out and named; the verdict
waits for every other job. Medians, not means: one diverging job does not decide a fleet.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lrhub.service.rollouts.model import Analysis, Baseline, Direction, JobFigure, Verdict

CANARY = "canary"
CONTROL = "control"


@dataclass(frozen=True)
class Observation:
    """What the judge knows of one cohort job: its baseline, the metric per epoch reported
    after it, and whether it finished or went stale."""

    job_id: str
    cohort: str
    baseline: Baseline | None
    metrics: Mapping[int, float]
    finished: bool = False
    stale: bool = False


def relative_change(baseline: float, value: float, mode: Direction) -> float:
    """`(value - baseline) / |baseline|`, sign turned for `max`: lower is better either way."""
    change = (value - baseline) / abs(baseline)
    return change if mode == Direction.MIN else -change


def _figure(analysis: Analysis, job: Observation) -> JobFigure | None:
    """The job's figure, or None while it has yet to report its epoch."""

    def left_out(reason: str) -> JobFigure:
        value = job.baseline.value if job.baseline else None
        return JobFigure(job.job_id, job.cohort, value, None, None, left_out=reason)

    if job.baseline is None:
        return left_out(f"no {analysis.metric} reported before the change")
    if job.baseline.value == 0:
        return left_out(f"its baseline {analysis.metric} is 0: no relative change")
    target = job.baseline.epoch + analysis.epochs
    reached = sorted(epoch for epoch in job.metrics if epoch >= target)
    if reached:
        value = job.metrics[reached[0]]
        change = relative_change(job.baseline.value, value, analysis.mode)
        return JobFigure(job.job_id, job.cohort, job.baseline.value, value, change)
    if job.finished:
        return left_out(f"finished before epoch {target}")
    if job.stale:
        return left_out(f"went stale before epoch {target}")
    return None


def judge(analysis: Analysis, jobs: Sequence[Observation]) -> Verdict | None:
    """The verdict on the canary, or None while a job still in the analysis has to report."""
    figures = []
    for job in jobs:
        figure = _figure(analysis, job)
        if figure is None:
            return None
        figures.append(figure)
    changes = {
        cohort: [
            figure.relative_change
            for figure in figures
            if figure.cohort == cohort and figure.relative_change is not None
        ]
        for cohort in (CANARY, CONTROL)
    }
    canary = statistics.median(changes[CANARY]) if changes[CANARY] else None
    control = statistics.median(changes[CONTROL]) if changes[CONTROL] else None
    if canary is None or control is None:
        missing = CANARY if canary is None else CONTROL
        detail = f"no {missing} job could be judged: without a comparison the canary fails"
        return Verdict(False, canary, control, figures, detail)
    regression = canary - control
    passed = regression <= analysis.max_regression
    detail = (
        f"canary median {canary:+.4f} vs control median {control:+.4f}: "
        f"{'within' if passed else 'worse than'} max_regression {analysis.max_regression}"
    )
    return Verdict(passed, canary, control, figures, detail)
