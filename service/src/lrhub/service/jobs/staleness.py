"""When a running job counts as stale: it has not reported for longer than it should have.

The one definition every reader uses (job answers, lists, gauges): a running job is stale when
its last report (or its creation, if it never reported) is older than the larger of the
configured `stale_after` and five times the median of its recent epoch intervals, so a job with
hour-long epochs is not flagged between two of them.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from lrhub.service.clock import as_utc
from lrhub.service.fields import JobStatus
from lrhub.service.jobs.model import StoredJob

INTERVAL_FACTOR = 5
# How many recent intervals between consecutive epochs a job keeps for its median.
INTERVALS_KEPT = 9


def stale_threshold(job: StoredJob, stale_after: timedelta) -> timedelta:
    """How long `job` may stay silent before it is stale."""
    if not job.epoch_intervals:
        return stale_after
    median = timedelta(seconds=statistics.median(job.epoch_intervals))
    return max(stale_after, INTERVAL_FACTOR * median)


def is_stale(job: StoredJob, *, now: datetime, stale_after: timedelta) -> bool:
    """True when a running job has not reported for longer than its threshold."""
    if job.status != JobStatus.RUNNING:
        return False
    last = as_utc(job.last_seen_at or job.created_at)
    return as_utc(now) - last > stale_threshold(job, stale_after)


def with_interval(intervals: list[float] | None, seconds: float) -> list[float]:
    """The recent intervals after one more, oldest dropped beyond `INTERVALS_KEPT`."""
    return [*(intervals or []), seconds][-INTERVALS_KEPT:]
