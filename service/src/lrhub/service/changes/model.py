"""Changes' records: a change of one job or many, and what it did to each job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ChangeState(StrEnum):
    """Where a change is: being applied job by job, applied to every job it selected, or cut
    short (by an unreachable database or a failure) with the jobs listed so far changed."""

    APPLYING = "applying"
    APPLIED = "applied"
    INTERRUPTED = "interrupted"


class BulkOutcome(StrEnum):
    """What a change did (or, in a dry run, would do) to one job. (The name is the API's, from
    when only bulk changes reported outcomes.)"""

    CHANGED = "changed"
    UNCHANGED = "unchanged"  # the change leaves its configuration as it was
    REFUSED = "refused"  # the single-job PATCH rule refuses it (e.g. a stopped job)
    NO_LONGER_MATCHES = "no_longer_matches"  # changed concurrently so the selector misses it


@dataclass(frozen=True)
class JobChange:
    """One job of a change: its configuration (as audit events record it) before and after,
    what happened, and why when it was not changed."""

    job_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: BulkOutcome
    detail: str | None = None


@dataclass(frozen=True)
class StoredChange:
    """One row of `changes`: who asked for what, when, of which job (`job_id`) or jobs
    (`selector`), how many jobs it matched, and where it is."""

    change_id: str
    at: datetime
    actor: str
    job_id: str | None
    selector: str | None
    body: dict[str, Any]
    """The PATCH body, the fields as the caller gave them."""
    state: ChangeState
    matched: int
    idempotency_key: str | None = None
    """The client's key of a bulk change: a retry with it resumes this change."""


@dataclass(frozen=True)
class ChangeResult:
    """A change as applied (or, in a dry run, previewed): how many jobs matched, its id (None
    for a dry run), each job's result, and where to continue when a limit cut it short."""

    matched: int
    change_id: str | None
    jobs: list[JobChange]
    next_after: str | None
