"""Drift: whether the rate a job's optimizer applied is the rate the service answered.

An adapter reads the rate back from its optimizer, which may hold it in float32 (Keras does):
the value it reports is the answered rate rounded to the nearest float32, or the answer itself.
Anything further away was set by someone else (another scheduler, a callback, a checkpoint
restore, a user's `param_groups` edit, or an outage under `on_error="hold"`).
"""

from __future__ import annotations

# Two units in the last place of a float32 (2 x 2**-23): rounding to float32 moves a value by
# at most half of one, and reading it back into a float64 adds nothing.
FLOAT32_TOLERANCE = 2.0**-22


def drifted(applied: float, in_force: float) -> bool:
    """Whether `applied` differs from `in_force` by more than float32 rounding (relative to
    the larger of the two; two zeros agree)."""
    return abs(applied - in_force) > FLOAT32_TOLERANCE * max(abs(applied), abs(in_force))


def momentum_drifted(applied: float | None, in_force: float | None) -> bool:
    """Whether a reported momentum differs from the scheduled one; a momentum the schedule does
    not set, or one not reported, is never drift."""
    if applied is None or in_force is None:
        return False
    return drifted(applied, in_force)
