"""The pending mark: a change to a job's rate made since its last decision, and the epoch it
takes effect at. A change sets it (`pending_epoch`), the job's next decision clears it (the
decision path writes None with the decided job). A newer version of the schedule a job follows
is pending too: it is not written on the job (publishing touches no job row), but shown on read
(`with_schedule_pending`)."""

from __future__ import annotations

from dataclasses import replace

from lrhub.service.jobs.model import Follow, StoredJob

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
    return next_epoch(after)


def next_epoch(job: StoredJob) -> int:
    """The epoch the job's next decision answers (0 before its first)."""
    return 0 if job.last_epoch is None else job.last_epoch + 1


def switches(job: StoredJob, latest_version: int) -> bool:
    """A job that follows the latest version of its schedule moves to a newer one
    (`latest_version`, 0 for an inline spec) at its next epoch."""
    return job.follow == Follow.LATEST and latest_version not in (0, job.schedule_version)


def with_schedule_pending(job: StoredJob, latest_version: int) -> StoredJob:
    """`job` as it is shown: a newer version of the schedule it follows, published since its
    last decision, is pending from its next epoch (unless a change already marked it)."""
    if job.pending_epoch is not None or not switches(job, latest_version):
        return job
    return replace(job, pending_epoch=next_epoch(job))
