"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from lrhub.service.errors import Forbidden

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin (or anyone when auth is off), or one job's token."""

    actor: str
    job_id: str | None = None  # set for a job token: the only job it reaches

    @property
    def is_admin(self) -> bool:
        """Admins (and everyone when auth is off) may do anything."""
        return self.job_id is None

    def require_admin(self) -> None:
        """Raise Forbidden unless this is an admin."""
        if not self.is_admin:
            raise Forbidden("a job token may not do this; use an admin token")

    def require_job(self, job_id: str) -> None:
        """Raise Forbidden unless this principal may act on `job_id`."""
        if self.job_id is not None and self.job_id != job_id:
            raise Forbidden(f"this job token belongs to another job, not {job_id!r}")
