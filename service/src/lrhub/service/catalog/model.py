"""Named schedules' records: one version of a schedule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredVersion:
    """One version of a schedule, with how many versions the schedule has."""

    name: str
    version: int
    spec: str
    description: str
    created_at: datetime
    versions: int
