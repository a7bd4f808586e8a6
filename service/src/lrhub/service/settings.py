"""Server configuration from `LRHUB_*` environment variables (a contract with the deployment)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lrhub.service.limits import (
    DEFAULT_MAX_EVALUATION_COST,
    DEFAULT_MAX_PREVIEW_STEPS,
    DEFAULT_MAX_STEPS_PER_EPOCH,
    Limits,
)
from lrhub.service.storage.database import DEFAULT_LOCK_TIMEOUT_SECONDS

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
    # Seconds a statement may wait for a database lock before the request is answered 503.
    lock_timeout: float = Field(default=DEFAULT_LOCK_TIMEOUT_SECONDS, gt=0, le=600)
    # The work one request may ask for (lrhub.service.limits).
    max_steps_per_epoch: int = Field(default=DEFAULT_MAX_STEPS_PER_EPOCH, ge=1)
    max_preview_steps: int = Field(default=DEFAULT_MAX_PREVIEW_STEPS, ge=1)
    max_evaluation_cost: int = Field(default=DEFAULT_MAX_EVALUATION_COST, ge=1)
    log_level: str = "info"

    def limits(self) -> Limits:
        """The bounds on one request's work."""
        return Limits(
            max_steps_per_epoch=self.max_steps_per_epoch,
            max_preview_steps=self.max_preview_steps,
            max_evaluation_cost=self.max_evaluation_cost,
        )

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
