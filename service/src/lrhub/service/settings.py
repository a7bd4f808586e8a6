"""Server configuration from `LRHUB_*` environment variables (a contract with the deployment)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lrhub.service.evaluation import (
    DEFAULT_EVALUATION_PROCESSES,
    DEFAULT_PROCESS_EVALUATION_COST,
    Evaluator,
)
from lrhub.service.limits import (
    DEFAULT_MAX_EVALUATION_COST,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_MAX_PREVIEW_STEPS,
    DEFAULT_MAX_SERIES_JOBS,
    DEFAULT_MAX_STEPS_PER_EPOCH,
    Limits,
)
from lrhub.service.storage.database import (
    DEFAULT_DATABASE_URL,
    DEFAULT_IO_TIMEOUT_SECONDS,
    DEFAULT_LOCK_TIMEOUT_SECONDS,
)
from lrhub.service.webhook_options import (
    DEFAULT_RETRY_SCHEDULE,
    MIN_WEBHOOK_KEY_LENGTH,
    WebhookOptions,
    parse_retry_schedule,
)

DEFAULT_MAX_BODY_BYTES = 262_144
DEFAULT_MAX_HEADER_BYTES = 65_536
MIN_ADMIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class AdminToken:
    """One admin bearer token and the actor name audit events record for it."""

    name: str
    secret: str


class ServerSettings(BaseSettings):
    """Everything `lrhub serve` and `create_app` read from the environment (prefix `LRHUB_`)."""

    # Errors never show their input: it may be LRHUB_ADMIN_TOKEN's secrets.
    model_config = SettingsConfigDict(
        env_prefix="LRHUB_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    # `name:secret,other` or bare secrets; empty means auth is off.
    admin_token: SecretStr = SecretStr("")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    insecure: bool = False
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    # Seconds a statement may wait for a database lock before the request is answered 503.
    lock_timeout: float = Field(default=DEFAULT_LOCK_TIMEOUT_SECONDS, gt=0, le=600)
    # PostgreSQL: seconds one round trip (a statement and its rows, a commit) may go unanswered
    # before its connection is dropped and the request answered 503: a database that vanished
    # without closing its connections (no FIN, no RST) fails fast instead of hanging requests.
    # Keep it above lock_timeout, which a statement may spend waiting for a lock.
    database_timeout: float = Field(default=DEFAULT_IO_TIMEOUT_SECONDS, gt=0, le=3600)
    # The work one request may ask for (lrhub.service.limits).
    max_steps_per_epoch: int = Field(default=DEFAULT_MAX_STEPS_PER_EPOCH, ge=1)
    max_preview_steps: int = Field(default=DEFAULT_MAX_PREVIEW_STEPS, ge=1)
    max_evaluation_cost: int = Field(default=DEFAULT_MAX_EVALUATION_COST, ge=1)
    max_page_bytes: int = Field(default=DEFAULT_MAX_PAGE_BYTES, ge=1024)
    max_series_jobs: int = Field(default=DEFAULT_MAX_SERIES_JOBS, ge=1, le=10_000)
    # Evaluations costing more than process_evaluation_cost (the measure of max_evaluation_cost)
    # run in a pool of this many processes per server process, so that they do not hold the
    # server's GIL; 0 evaluates everything in the server process (lrhub.service.evaluation).
    evaluation_processes: int = Field(default=DEFAULT_EVALUATION_PROCESSES, ge=0, le=256)
    process_evaluation_cost: int = Field(default=DEFAULT_PROCESS_EVALUATION_COST, ge=0)
    log_level: str = "info"
    # Slow or idle clients: seconds until a connection's request headers must have arrived, a
    # request's body must have arrived, and an idle keep-alive connection is closed.
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    # Bytes a request's line and headers may take before it is answered 431 and closed.
    max_header_bytes: int = Field(default=DEFAULT_MAX_HEADER_BYTES, ge=1024, le=16 * 1024 * 1024)
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_timeout: int = Field(default=5, ge=1, le=3600)
    # Completed, failed and stopped jobs idle for longer are deleted with their history; None
    # keeps them forever.
    retention_days: float | None = Field(default=None, gt=0)
    # A running job silent for longer (or 5x its median epoch interval, if longer) is stale.
    # Seconds, or an ISO 8601 duration such as PT15M.
    stale_after: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    # The most jobs one bulk PATCH may change; more need `limit=` (at most this many a request).
    bulk_max: int = Field(default=1000, ge=1, le=100_000)
    # How often an open event stream looks for new events, in seconds.
    stream_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # Seconds of quiet after which a stream sends a keep-alive comment.
    stream_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    # Events an open stream reads and sends at a time: what one connection holds in memory. The
    # next batch is read only once the previous one was handed to the socket, which stops taking
    # data when a slow client stops reading: a slow consumer holds one batch, never a queue.
    stream_batch: int = Field(default=200, ge=1, le=10_000)
    # And about the most JSON bytes a batch may take (at least one event, however large): the
    # sizes are read before the events, so a batch of large events is cut before it is loaded.
    stream_batch_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    # Open event streams per server process; more are answered 503 (each one polls the database).
    stream_max_connections: int = Field(default=100, ge=1, le=10_000)
    # Webhooks: the key their signing secrets are encrypted with at rest (any text of at least
    # 32 characters; unset: webhooks cannot be created), the delays before each delivery attempt
    # (seconds or 5s/5m/2h; the Standard Webhooks schedule by default), whether private and
    # loopback targets are allowed, how long one attempt may take, and whether this process
    # delivers (false: it only writes the outbox; other replicas deliver).
    webhook_key: SecretStr = SecretStr("")
    webhook_retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    webhook_allow_private: bool = False
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    webhook_deliver: bool = True
    # How often this process's rollout judge looks at rollouts under analysis (seconds); false
    # LRHUB_ROLLOUT_JUDGE leaves judging to other replicas.
    rollout_judge: bool = True
    rollout_judge_interval: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_usable(cls, value: str) -> str:
        parse_retry_schedule(value)
        return value

    @field_validator("webhook_key")
    @classmethod
    def _webhook_key_is_usable(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and len(secret) < MIN_WEBHOOK_KEY_LENGTH:
            raise ValueError(
                f"LRHUB_WEBHOOK_KEY has {len(secret)} characters; use at least "
                f"{MIN_WEBHOOK_KEY_LENGTH} (openssl rand -base64 32)"
            )
        return value

    def webhook_options(self) -> WebhookOptions:
        """How webhooks are delivered and their secrets kept."""
        return WebhookOptions(
            key=self.webhook_key.get_secret_value() or None,
            retry_schedule=parse_retry_schedule(self.webhook_retry_schedule),
            allow_private=self.webhook_allow_private,
            timeout=self.webhook_timeout,
            lock_timeout=self.lock_timeout,
            stale_after=self.stale_after,
        )

    @field_validator("stale_after", mode="before")
    @classmethod
    def _seconds_are_a_duration(cls, value: object) -> object:
        """`60` and `90.5` are seconds, as documented (pydantic reads a bare number given as
        text, which every environment variable is, as no duration at all)."""
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value.strip()))
            except (ValueError, OverflowError):
                return value  # an ISO 8601 duration (PT15M), or an error naming the setting
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_tokens_are_usable(cls, value: SecretStr) -> SecretStr:
        _parse_admin_tokens(value.get_secret_value())
        return value

    def limits(self) -> Limits:
        """The bounds on one request's work."""
        return Limits(
            max_steps_per_epoch=self.max_steps_per_epoch,
            max_preview_steps=self.max_preview_steps,
            max_evaluation_cost=self.max_evaluation_cost,
            max_page_bytes=self.max_page_bytes,
            max_series_jobs=self.max_series_jobs,
        )

    def evaluator(self) -> Evaluator:
        """Where engine evaluations run (its pool starts with the first costly one)."""
        return Evaluator(
            processes=self.evaluation_processes, threshold=self.process_evaluation_cost
        )

    def admin_tokens(self) -> list[AdminToken]:
        """The configured admin tokens; unnamed ones are named `admin-<sha256 prefix>`."""
        return _parse_admin_tokens(self.admin_token.get_secret_value())


def _parse_admin_tokens(value: str) -> list[AdminToken]:
    """`name:secret,other` or bare secrets; ValueError for an empty or short secret.

    A blank value turns auth off. Anything else must be all usable tokens: `admin:` or `a,,b`
    (what unset shell variables make) would otherwise start a server no one can use, or one
    with fewer tokens than meant.
    """
    if not value.strip():
        return []
    tokens = []
    for position, item in enumerate(value.split(","), start=1):
        item = item.strip()
        name, sep, secret = item.partition(":")
        if not sep:
            secret = item
            name = "admin-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
        name, secret = name.strip(), secret.strip()
        if not name:
            raise ValueError(f"LRHUB_ADMIN_TOKEN item {position} has an empty name before ':'")
        if len(secret) < MIN_ADMIN_SECRET_LENGTH:
            raise ValueError(
                f"LRHUB_ADMIN_TOKEN item {position} ({name!r}) has a secret of {len(secret)} "
                f"characters; use at least {MIN_ADMIN_SECRET_LENGTH} (openssl rand -hex 24)"
            )
        tokens.append(AdminToken(name=name, secret=secret))
    return tokens
