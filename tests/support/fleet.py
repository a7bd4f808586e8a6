"""A simulated fleet whose loss responds to the learning rate it is answered: each epoch a job
improves its loss by a gain that peaks at `OPTIMAL_RATE` and falls off with the rate's distance
from it in decades, times seeded noise. Used by the rollout tests (over HTTP, each job asking
the real service for its rate) and by `bench/rollouts.py` (in process, with the real judge)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

OPTIMAL_RATE = 0.1
# The best per-epoch relative improvement of the loss, at the optimal rate.
BEST_GAIN = 0.06
# The noise of one epoch's loss (relative standard deviation).
NOISE = 0.005


def gain(rate: float) -> float:
    """The relative improvement of an epoch trained at `rate`."""
    decades = math.log10(rate / OPTIMAL_RATE)
    return BEST_GAIN * math.exp(-(decades**2))


@dataclass
class SimulatedJob:
    """One job: its loss so far (`losses[e]` at the end of epoch e) and its noise."""

    job_id: str
    rng: random.Random
    losses: list[float] = field(default_factory=list)
    start_loss: float = 1.0
    noise: float = NOISE

    def train_epoch(self, rate: float, *, worse_by: float = 0.0) -> float:
        """Train one epoch at `rate` and answer its end loss; `worse_by` makes the epoch's
        loss that much (relative) higher than the rate alone would."""
        previous = self.losses[-1] if self.losses else self.start_loss
        loss = previous * (1 - gain(rate)) * (1 + self.rng.gauss(0, self.noise)) * (1 + worse_by)
        self.losses.append(loss)
        return loss

    def metrics_for(self, epoch: int) -> dict[str, float]:
        """What the job reports when it asks for `epoch`: the loss at the end of epoch - 1."""
        return {} if epoch == 0 else {"val_loss": self.losses[epoch - 1]}
