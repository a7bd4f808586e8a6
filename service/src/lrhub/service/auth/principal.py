"""Who is calling, with which role, and what that role may do.

Each service function asks for what it needs (`principal.require_operator()`, ...); the roles:

| role | may |
|---|---|
| admin | everything, including tokens |
| operator | create, change and delete jobs and schedules; rotate job tokens |
| viewer | read everything but secrets |
| creator | create jobs, then act as the job on the jobs it created (report epochs, read) |
| job | its own job: report epochs, read it and its history |

Every role may read schedules and preview. Without admin tokens auth is off and everyone is admin.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lrhub.service.errors import Forbidden

ANONYMOUS = "anonymous"


class Role(StrEnum):
    """What a token may do (see the module docstring)."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    CREATOR = "creator"
    JOB = "job"


_CHANGE_JOBS = (Role.ADMIN, Role.OPERATOR)
_READ_ALL = (Role.ADMIN, Role.OPERATOR, Role.VIEWER)
_CREATE_JOBS = (Role.ADMIN, Role.OPERATOR, Role.CREATOR)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the actor audit events name, its role, and for a job token its job."""

    actor: str
    role: Role = Role.ADMIN
    job_id: str | None = None  # set for a job token: the only job it reaches
    # An API token's id (its secret's sha256): what a creator's jobs are bound to, not its
    # name, which a revoked token's successor may take.
    token_id: str | None = None

    def _refuse(self, needed: str) -> Forbidden:
        return Forbidden(f"a {self.role} token may not do this; it needs {needed}")

    def require_admin(self) -> None:
        """Raise Forbidden unless this is an admin (tokens)."""
        if self.role != Role.ADMIN:
            raise self._refuse("an admin token")

    def require_operator(self) -> None:
        """Raise Forbidden unless this principal may change jobs and schedules."""
        if self.role not in _CHANGE_JOBS:
            raise self._refuse("an admin or operator token")

    def require_viewer(self) -> None:
        """Raise Forbidden unless this principal may read everything (lists, audit logs)."""
        if self.role not in _READ_ALL:
            raise self._refuse("an admin, operator or viewer token")

    def require_creator(self) -> None:
        """Raise Forbidden unless this principal may create jobs."""
        if self.role not in _CREATE_JOBS:
            raise self._refuse("an admin, operator or creator token")

    def require_job(self, job_id: str, *, change: bool) -> None:
        """Raise Forbidden unless this principal may reach `job_id` (read it, or with `change`
        report its epochs), as far as that is known before the job is read; a creator's claim
        is checked by `require_owner` once it is."""
        if self.role in _CHANGE_JOBS or self.role == Role.CREATOR:
            return
        if self.role == Role.VIEWER:
            if change:
                raise self._refuse("an admin, operator, creator or job token")
            return
        if self.job_id != job_id:
            raise Forbidden(f"this job token belongs to another job, not {job_id!r}")

    def require_owner(self, creator_token: str | None) -> None:
        """For a creator: raise Forbidden unless this very token created the job
        (`creator_token` as stored: the creating token's id)."""
        if self.role == Role.CREATOR and (creator_token is None or creator_token != self.token_id):
            raise Forbidden("a creator token reaches only the jobs it created")
