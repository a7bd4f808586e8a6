"""A per-process cache of job rows for the decision path.

Holds each job as this process last read or wrote it, with the latest version of its schedule
then. It is never trusted on its own: a decision computed from a cached row is written with a
compare-and-set on the row's version (and on the schedule's latest version), so a row another
process or request changed meanwhile makes the write fail, and the decision is made again from a
fresh read. The common path, one process deciding a job's epochs in order, then needs no read.

With a row it wrote after a decision, it keeps what that decision left in force (`InForce`),
so the next decision's applied report is checked without reading it back; only while the row
is the one it was kept with.

It also remembers which spec texts it has kept in `spec_texts` (rows there are immutable and
never deleted), so a per-step decision writes its spec text once per process, not per epoch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from lrhub.service.decisions.model import InForce
from lrhub.service.jobs.model import StoredJob

DEFAULT_CACHED_JOBS = 10_000


class JobRowCache:
    """A bounded, thread-safe LRU map of job id → (job row, latest schedule version, `InForce`)."""

    def __init__(self, size: int = DEFAULT_CACHED_JOBS) -> None:
        self._size = size
        # Each job's row as this process wrote it after a decision, the latest version of its
        # schedule then, and what that decision left in force.
        self._rows: OrderedDict[str, tuple[StoredJob, int, InForce]] = OrderedDict()
        self._kept_specs: set[str] = set()
        self._lock = threading.Lock()

    def get(self, job_id: str) -> tuple[StoredJob, int] | None:
        """The cached row and latest schedule version of `job_id`, if any."""
        with self._lock:
            found = self._rows.get(job_id)
            if found is None:
                return None
            self._rows.move_to_end(job_id)
            return found[0], found[1]

    def put(self, job: StoredJob, latest_version: int, in_force: InForce) -> None:
        """Remember `job` as it is now stored, and what its last decision left `in_force`."""
        with self._lock:
            self._rows[job.job_id] = (job, latest_version, in_force)
            self._rows.move_to_end(job.job_id)
            if len(self._rows) > self._size:
                self._rows.popitem(last=False)

    def in_force(self, job: StoredJob) -> InForce | None:
        """What `job`'s last decision left in force, when this process wrote that decision and
        the row is still exactly as it wrote it."""
        with self._lock:
            found = self._rows.get(job.job_id)
        return found[2] if found is not None and found[0] == job else None

    def drop(self, job_id: str) -> None:
        """Forget `job_id` (its row changed elsewhere)."""
        with self._lock:
            self._rows.pop(job_id, None)

    def spec_kept(self, spec_key: str) -> bool:
        """Whether this process has kept the spec text of `spec_key` in the database."""
        with self._lock:
            return spec_key in self._kept_specs

    def note_spec_kept(self, spec_key: str) -> None:
        """Remember that the spec text of `spec_key` is kept (forgetting all past the bound:
        keeping one again costs a statement that changes nothing)."""
        with self._lock:
            if len(self._kept_specs) >= self._size:
                self._kept_specs.clear()
            self._kept_specs.add(spec_key)
