"""Request and response bodies of `/v1/tokens`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from lrhub.service.auth.principal import Role
from lrhub.service.clock import as_utc
from lrhub.service.http.schemas import RequestBody
from lrhub.service.tokens.model import StoredToken

TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
MAX_EXPIRES_IN_SECONDS = 10 * 366 * 86_400  # ten years
TokenName = Annotated[str, StringConstraints(pattern=TOKEN_NAME_PATTERN)]


class TokenCreate(RequestBody):
    """`POST /v1/tokens`: a named token with a role, optionally expiring."""

    name: TokenName
    # Job tokens belong to one job: PUT /v1/jobs/{id} and POST /v1/jobs/{id}/token make them.
    role: Literal["admin", "operator", "viewer", "creator"]
    expires_in: int | None = Field(
        default=None,
        ge=60,
        le=MAX_EXPIRES_IN_SECONDS,
        strict=True,
        description="Seconds until the token stops working; absent: it never expires.",
    )


class Token(BaseModel):
    """An API token as listed: never its secret."""

    name: str
    role: Role
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: StoredToken) -> Token:
        """The answer for a stored token."""
        return cls(
            name=token.name,
            role=token.role,
            created_by=token.created_by,
            created_at=as_utc(token.created_at),
            expires_at=as_utc(token.expires_at) if token.expires_at is not None else None,
            last_used_at=as_utc(token.last_used_at) if token.last_used_at is not None else None,
        )


class TokenCreated(Token):
    """The 201 answer that created a token: its secret, shown this once."""

    token: str


class Me(BaseModel):
    """`GET /v1/me`: who the bearer token says the caller is."""

    name: str = Field(description="The name audit events record for this caller.")
    role: Role
    job_id: str | None = Field(default=None, description="For a job token: its job.")
    auth: bool = Field(description="Whether this server requires tokens at all.")
