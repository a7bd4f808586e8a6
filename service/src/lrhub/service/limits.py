"""How much work one request may ask for, and the one check of each bound.

Every bound has a setting (`LRHUB_MAX_*`, see `settings.ServerSettings`); a request over it is
refused before any work is done, with a 422 that names the bound and the setting that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lrhub.schedules import Spec, evaluation_cost
from lrhub.service.errors import InvalidChange

DEFAULT_MAX_STEPS_PER_EPOCH = 100_000
DEFAULT_MAX_PREVIEW_STEPS = 1_000_000
# Evaluation steps (see lrhub.schedules.evaluation_cost) of one request: about a second of the
# engine's work on the benchmark machine, and what a preview of a million step rates of a
# built-in schedule needs.
DEFAULT_MAX_EVALUATION_COST = 25_000_000
# One history page's JSON: room for an epoch of the most step rates LRHUB_MAX_STEPS_PER_EPOCH
# allows by default (about 2.3 MB), so such an epoch still comes with some others.
DEFAULT_MAX_PAGE_BYTES = 4_194_304
# Jobs one request for several jobs' series may name: the dashboard's compare page draws at
# most 100, and the ids alone of more would crowd the request line.
DEFAULT_MAX_SERIES_JOBS = 100


def evaluation_steps(spec: Spec, rates: int) -> int:
    """What `rates` rates of `spec` cost to evaluate: the measure LRHUB_MAX_EVALUATION_COST
    bounds and LRHUB_PROCESS_EVALUATION_COST compares (`lrhub.service.evaluation`)."""
    return evaluation_cost(spec) * rates


class LimitExceeded(InvalidChange):
    """A request asks for more work than a configured bound allows."""

    def __init__(self, field: str, asked: str, bound: int, setting: str) -> None:
        super().__init__(field, f"{asked}; the limit is {bound:,} (set by {setting})")


@dataclass(frozen=True)
class Limits:
    """The bounds in force, from the server's settings."""

    max_steps_per_epoch: int = DEFAULT_MAX_STEPS_PER_EPOCH
    max_preview_steps: int = DEFAULT_MAX_PREVIEW_STEPS
    max_evaluation_cost: int = DEFAULT_MAX_EVALUATION_COST
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES
    """A history page stops before the item that would take it past this many bytes."""
    max_series_jobs: int = DEFAULT_MAX_SERIES_JOBS
    """The most jobs one request for several jobs' series may name."""

    def check_series_jobs(self, jobs: int) -> None:
        """A request for the series of `jobs` jobs."""
        if jobs > self.max_series_jobs:
            raise LimitExceeded(
                "jobs", f"{jobs:,} jobs", self.max_series_jobs, "LRHUB_MAX_SERIES_JOBS"
            )

    def check_decision(self, spec: Spec, steps_per_epoch: int | None) -> int:
        """A decision of one epoch, with `steps_per_epoch` step rates when given; its
        evaluation cost (`evaluation_steps`)."""
        if steps_per_epoch is not None and steps_per_epoch > self.max_steps_per_epoch:
            raise LimitExceeded(
                "steps_per_epoch",
                f"{steps_per_epoch:,} steps per epoch",
                self.max_steps_per_epoch,
                "LRHUB_MAX_STEPS_PER_EPOCH",
            )
        return self._check_cost(spec, steps_per_epoch or 1, "steps_per_epoch")

    def check_preview(self, spec: Spec, epochs: int, steps_per_epoch: int | None) -> int:
        """A preview of `epochs` epochs, with `steps_per_epoch` step rates each when given; its
        evaluation cost (`evaluation_steps`)."""
        if steps_per_epoch is not None:
            self.check_decision(spec, steps_per_epoch)
            if epochs * steps_per_epoch > self.max_preview_steps:
                raise LimitExceeded(
                    "steps_per_epoch",
                    f"{epochs:,} epochs x {steps_per_epoch:,} steps per epoch "
                    f"= {epochs * steps_per_epoch:,} step rates",
                    self.max_preview_steps,
                    "LRHUB_MAX_PREVIEW_STEPS",
                )
        return self._check_cost(spec, epochs * (steps_per_epoch or 1), "epochs")

    def _check_cost(self, spec: Spec, rates: int, field: str) -> int:
        cost = evaluation_steps(spec, rates)
        if cost > self.max_evaluation_cost:
            per_rate = evaluation_cost(spec)
            raise LimitExceeded(
                field,
                f"{rates:,} rates of a schedule costing {per_rate:,} per rate "
                f"= {cost:,} evaluation steps",
                self.max_evaluation_cost,
                "LRHUB_MAX_EVALUATION_COST",
            )
        return cost
