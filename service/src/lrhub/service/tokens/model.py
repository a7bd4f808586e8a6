"""API tokens' records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lrhub.service.auth.principal import Role


@dataclass(frozen=True)
class StoredToken:
    """One row of `tokens`: an API token's name, role, hash and times."""

    name: str
    role: Role
    token_hash: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
