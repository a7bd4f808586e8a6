"""Stale jobs: the one definition of "a running job that stopped reporting".

A running job is stale when its last report (its last decision, or its creation before the
first) is older than the larger of `LRHUB_STALE_AFTER` and `STALE_INTERVAL_FACTOR` times its
median epoch interval (over its last `INTERVALS_FOR_MEDIAN` epochs): a job whose epochs take
an hour is not stale after 15 minutes. Jobs that are not running are never stale.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select

from lrhub.service.clock import as_utc, utc_now
from lrhub.service.jobs.store import JobStatus, StoredJob, job_of
from lrhub.service.storage.tables import decisions, jobs

STALE_INTERVAL_FACTOR = 5
INTERVALS_FOR_MEDIAN = 10
_CANDIDATE_BATCH = 500


@dataclass(frozen=True)
class JobRead:
    """A job as reads answer it: the stored row, and whether it is stale."""

    job: StoredJob
    stale: bool


def last_report(job: StoredJob) -> datetime:
    """When the job last reported: its last decision, else its creation."""
    return as_utc(job.last_seen_at or job.created_at)


def _median_intervals(connection: Connection, stored: Sequence[StoredJob]) -> dict[str, timedelta]:
    """Each job's median interval between its last decisions in force (jobs with fewer than
    two have none)."""
    # One decision is in force per epoch, so the epochs from last_epoch - INTERVALS_FOR_MEDIAN
    # hold the last ones: an index range per job (job_id, superseded, epoch), whatever the
    # length of its history.
    windows = [
        (decisions.c.job_id == job.job_id)
        & (decisions.c.epoch >= job.last_epoch - INTERVALS_FOR_MEDIAN)
        for job in stored
        if job.last_epoch is not None
    ]
    if not windows:
        return {}
    query = (
        select(decisions.c.job_id, decisions.c.decided_at)
        .where(decisions.c.superseded.is_(False), or_(*windows))
        .order_by(decisions.c.job_id, decisions.c.epoch)
    )
    times: defaultdict[str, list[float]] = defaultdict(list)
    for job_id, decided_at in connection.execute(query):
        times[job_id].append(as_utc(decided_at).timestamp())
    return {
        job_id: timedelta(seconds=statistics.median(b - a for a, b in itertools.pairwise(moments)))
        for job_id, moments in times.items()
        if len(moments) >= 2
    }


def read_jobs(
    connection: Connection,
    stored: Sequence[StoredJob],
    stale_after: timedelta,
    now: datetime | None = None,
) -> list[JobRead]:
    """`stored` with their staleness at `now` (default: now)."""
    now = now or utc_now()
    # Only a running job silent for longer than `stale_after` can be stale: only those need
    # their epoch intervals read.
    candidates = [
        job
        for job in stored
        if job.status == JobStatus.RUNNING and now - last_report(job) > stale_after
    ]
    medians = _median_intervals(connection, candidates)
    candidate_ids = {job.job_id for job in candidates}
    return [
        JobRead(
            job=job,
            stale=job.job_id in candidate_ids
            and now - last_report(job)
            > max(stale_after, STALE_INTERVAL_FACTOR * medians.get(job.job_id, timedelta())),
        )
        for job in stored
    ]


def read_job(connection: Connection, job: StoredJob, stale_after: timedelta) -> JobRead:
    """One job with its staleness now."""
    return read_jobs(connection, [job], stale_after)[0]


def count_stale(connection: Connection, stale_after: timedelta) -> int:
    """How many jobs are stale now, across the whole database."""
    now = utc_now()
    silent_since = func.coalesce(jobs.c.last_seen_at, jobs.c.created_at)
    query = (
        select(jobs)
        .where(jobs.c.status == JobStatus.RUNNING.value, silent_since < now - stale_after)
        .order_by(jobs.c.job_id)
        .limit(_CANDIDATE_BATCH)
    )
    count = 0
    after: str | None = None
    while True:
        page = query if after is None else query.where(jobs.c.job_id > after)
        batch = [job_of(row) for row in connection.execute(page).mappings()]
        count += sum(read.stale for read in read_jobs(connection, batch, stale_after, now))
        if len(batch) < _CANDIDATE_BATCH:
            return count
        after = batch[-1].job_id
