"""How often the rollout judge gets it wrong: the false-revert rate of a change that changes
nothing, and the miss rate of a change that makes the canary 5% worse.

Each of `--fleets` seeded fleets (`tests.support.fleet`: a job's loss improves each epoch by a
gain that depends on its rate, times noise) trains `WARMUP` epochs at the best rate, then the
real `canary_cohort` picks the canary (a quarter of the jobs) and every job trains the
analysis's epochs more. No-op: every job keeps its rate. 5% worse: the canary's loss after the
analysis's epochs is 5% above what its rate alone gives. The real judge (`lrhub.service.rollouts
.judge.judge`) then gives its verdict: a failed no-op is a false revert, a passed 5%-worse
change a miss. In process: the judge is a pure function, so the figures are the judge's, not
the transport's.

    python -m bench.rollouts [--fleets 200] [--epochs 3]
"""

from __future__ import annotations

import argparse
import math
import random

from lrhub.service.rollouts.judge import CANARY, CONTROL, Observation, judge
from lrhub.service.rollouts.model import Analysis, Baseline, Direction
from lrhub.service.rollouts.service import canary_cohort
from tests.support.fleet import NOISE, OPTIMAL_RATE, SimulatedJob

WARMUP = 3
WORSE = 0.05
CANARY_SHARE = 0.25


def _verdict_passed(
    seed: int, jobs: int, analysis: Analysis, *, worse: float, noise: float
) -> bool:
    rng = random.Random(seed)
    fleet = [
        SimulatedJob(f"job-{index:03d}", random.Random(rng.random()), noise=noise)
        for index in range(jobs)
    ]
    for job in fleet:
        for _ in range(WARMUP):
            job.train_epoch(OPTIMAL_RATE)
    canary = set(
        canary_cohort(
            [job.job_id for job in fleet], math.ceil(CANARY_SHARE * jobs), seed=f"fleet-{seed}"
        )
    )
    per_epoch = (1 + worse) ** (1 / analysis.epochs) - 1
    observations = []
    for job in fleet:
        base = Baseline(epoch=WARMUP - 1, value=job.losses[-1])
        in_canary = job.job_id in canary
        for _ in range(analysis.epochs):
            job.train_epoch(OPTIMAL_RATE, worse_by=per_epoch if in_canary else 0.0)
        observations.append(
            Observation(
                job.job_id,
                CANARY if in_canary else CONTROL,
                base,
                dict(enumerate(job.losses)),
            )
        )
    verdict = judge(analysis, observations)
    assert verdict is not None  # every job reported its epochs
    return verdict.passed


def rates(
    fleets: int, jobs: int, epochs: int, max_regression: float, noise: float
) -> tuple[float, float]:
    """(false-revert rate of a no-op, miss rate of a 5%-worse change) over `fleets` seeds."""
    analysis = Analysis("val_loss", Direction.MIN, epochs, max_regression)
    false_reverts = sum(
        not _verdict_passed(seed, jobs, analysis, worse=0.0, noise=noise) for seed in range(fleets)
    )
    misses = sum(
        _verdict_passed(seed, jobs, analysis, worse=WORSE, noise=noise) for seed in range(fleets)
    )
    return false_reverts / fleets, misses / fleets


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollouts", description=__doc__)
    parser.add_argument("--fleets", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    arguments = parser.parse_args()
    print(f"{arguments.fleets} seeded fleets per row, analysis over {arguments.epochs} epochs")
    print("| jobs | noise per epoch | max_regression | false reverts (no-op) | misses (5% worse) |")
    print("|---|---|---|---|---|")
    for jobs in (8, 20, 50):
        for noise in (NOISE, 0.02):
            for max_regression in (0.01, 0.02, 0.03):
                false_revert, miss = rates(
                    arguments.fleets, jobs, arguments.epochs, max_regression, noise
                )
                print(
                    f"| {jobs} | {noise:.1%} | {max_regression} | {false_revert:.1%} | {miss:.1%} |"
                )


if __name__ == "__main__":
    main()
