"""The pending mark: a change to a job's rate made since its last decision, and the epoch it
takes effect at. A change sets it (`pending_epoch`), the job's next decision clears it (the
decision path writes None with the decided job)."""

from __future__ import annotations

from lrhub.service.jobs.model import StoredJob

# The job's settings whose change alters the rate its next decision answers: the schedule
# (and how it follows new versions), its clock, the operator's scale, override, pause and
# cooldown. Labels and status are not: a stopped job is answered `stop` whatever its rate.
RATE_SETTINGS = (
    "schedule_name", "schedule_version", "follow", "spec", "clock_origin", "state", "scale",
    "override", "paused", "held_rate", "cooldown",
)  # fmt: skip


def pending_epoch(before: StoredJob, after: StoredJob) -> int | None:
    """The job's pending mark once an operator's change turned `before` into `after`: the
    epoch the change to the rate takes effect at (the job's next epoch, 0 before its first),
    the mark already set when a change was pending before this one, None when no change to the
    rate is pending (a labels-only or a status change)."""
    if before.pending_epoch is not None:
        return before.pending_epoch
    if all(getattr(before, name) == getattr(after, name) for name in RATE_SETTINGS):
        return None
    return 0 if after.last_epoch is None else after.last_epoch + 1
