"""Server configuration from `LRHUB_*` environment variables (a contract with the deployment)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY_BYTES = 262_144


@dataclass(frozen=True)
class AdminToken:
    """One admin bearer token and the actor name audit events record for it."""

    name: str
    secret: str


class ServerSettings(BaseSettings):
    """Everything `lrhub serve` and `create_app` read from the environment (prefix `LRHUB_`)."""

    model_config = SettingsConfigDict(env_prefix="LRHUB_", extra="ignore")

    database_url: str = "sqlite:///./lrhub.db"
    # `name:secret,other` or bare secrets; empty means auth is off.
    admin_token: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    insecure: bool = False
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    log_level: str = "info"
    # A running job silent for longer (or 5x its median epoch interval, if longer) is stale.
    # Seconds, or an ISO 8601 duration such as PT15M.
    stale_after: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    # The most jobs one bulk PATCH may change; more need `limit=` (at most this many a request).
    bulk_max: int = Field(default=1000, ge=1, le=100_000)
    # How often an open event stream looks for new events, in seconds.
    stream_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # Seconds of quiet after which a stream sends a keep-alive comment.
    stream_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    # Open event streams per server process; more are answered 503 (each one polls the database).
    stream_max_connections: int = Field(default=100, ge=1, le=10_000)

    def admin_tokens(self) -> list[AdminToken]:
        """The configured admin tokens; unnamed ones are named `admin-<sha256 prefix>`."""
        tokens = []
        for item in self.admin_token.get_secret_value().split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, secret = item.partition(":")
            if not sep:
                secret = item
                name = "admin-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
            tokens.append(AdminToken(name=name.strip(), secret=secret.strip()))
        return tokens
