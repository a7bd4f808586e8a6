"""What every request body shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so typos are reported rather than ignored."""

    model_config = ConfigDict(extra="forbid")
