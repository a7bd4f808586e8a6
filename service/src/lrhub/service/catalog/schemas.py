"""Request and response bodies of `/v1/schedules`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from lrhub.schedules import Spec
from lrhub.service.catalog.model import StoredVersion
from lrhub.service.clock import as_utc
from lrhub.service.fields import StoredText
from lrhub.service.http.schemas import RequestBody
from lrhub.service.stored_specs import load_spec


class SchedulePut(RequestBody):
    """`PUT /v1/schedules/{name}`."""

    spec: Spec
    description: StoredText = Field(default="", max_length=4096)


class Schedule(BaseModel):
    """A version of a named schedule."""

    name: str
    version: int
    spec: Spec
    description: str
    created_at: datetime
    versions: int

    @classmethod
    def of(cls, version: StoredVersion) -> Schedule:
        """The answer for one stored version."""
        return cls(
            name=version.name,
            version=version.version,
            spec=load_spec(version.spec),
            description=version.description,
            created_at=as_utc(version.created_at),
            versions=version.versions,
        )


def schedule_etag(name: str, version: int) -> str:
    """A schedule's ETag: `"<name>@<version>"` (its revision is its latest version)."""
    return f'"{name}@{version}"'
