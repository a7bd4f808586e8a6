"""Bearer tokens: admin tokens from settings; job tokens and API tokens stored as sha256.

Stored tokens are looked up in the database on every request, with no per-process cache: a
revoked, rotated or expired token stops working at once on every server sharing the database.
The lookups are injected (`TokenLookups`, wired by `create_app`), so auth reads no store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from lrhub.service.auth.principal import ANONYMOUS, Principal, Role
from lrhub.service.clock import as_utc, iso_text, utc_now
from lrhub.service.errors import Unauthorized
from lrhub.service.settings import AdminToken

JOB_TOKEN_PREFIX = "lrj_"
API_TOKEN_PREFIX = "lrt_"
# A token's last use is recorded at most this often: one write per token and minute, not per
# request.
LAST_USE_RESOLUTION = timedelta(minutes=1)
_UNKNOWN = "the bearer token is not known (or it was revoked)"


def new_job_token() -> str:
    """A fresh job token, shown to the caller once."""
    return JOB_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_token() -> str:
    """A fresh API token, shown to the caller once."""
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The sha256 hex digest stored instead of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class StoredApiToken(Protocol):
    """What authentication reads of a stored API token (the tokens domain's record has it)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def token_hash(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def last_used_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class TokenLookups:
    """How the Authenticator reads stored tokens, each by the sha256 of the presented token."""

    job_id_of: Callable[[str], str | None]
    """The job whose token has this hash."""
    api_token_of: Callable[[str], StoredApiToken | None]
    """The API token with this hash."""
    record_use: Callable[[str, datetime], None]
    """Note that the API token named so was used at that time."""


class Authenticator:
    """Turns an `Authorization` header into a Principal."""

    def __init__(self, admin_tokens: list[AdminToken], lookups: TokenLookups) -> None:
        self._admin_tokens = [(token.name, token.secret.encode()) for token in admin_tokens]
        # `name:secret`, as LRHUB_ADMIN_TOKEN spells it, is accepted as well as the bare secret:
        # people paste the configured value whole.
        self._admin_pairs = [
            (token.name, f"{token.name}:{token.secret}".encode()) for token in admin_tokens
        ]
        self._lookups = lookups

    @property
    def enabled(self) -> bool:
        """Auth is on exactly when admin tokens are configured."""
        return bool(self._admin_tokens)

    @property
    def admin_names(self) -> frozenset[str]:
        """The actor names of the configured admin tokens (no API token may take one)."""
        return frozenset(name for name, _ in self._admin_tokens)

    def authenticate_in_memory(self, authorization: str | None) -> Principal | str:
        """The caller, or the presented token when only the database can tell (see below).

        Raises Unauthorized for a missing or malformed header and for unknown tokens that are
        neither job nor API tokens.
        """
        if not self.enabled:
            return Principal(actor=ANONYMOUS)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send Authorization: Bearer <token>")
        presented = token.encode()
        for name, secret in self._admin_tokens + self._admin_pairs:
            if hmac.compare_digest(presented, secret):
                return Principal(actor=name)
        if not token.startswith((JOB_TOKEN_PREFIX, API_TOKEN_PREFIX)):
            raise Unauthorized(_UNKNOWN)
        return token

    def still_valid(self, principal: Principal) -> bool:
        """Whether the stored token `principal` authenticated with still authenticates it: not
        revoked, rotated or expired since (database reads). Configured admin tokens and auth
        switched off always do. What a long request (an event stream) checks as it goes."""
        if principal.token_id is None:
            return True
        if principal.role == Role.JOB:
            return self._lookups.job_id_of(principal.token_id) == principal.job_id
        stored = self._lookups.api_token_of(principal.token_id)
        return stored is not None and (
            stored.expires_at is None or as_utc(stored.expires_at) > utc_now()
        )

    def authenticate_stored(self, token: str) -> Principal:
        """The job or API token's principal (database reads), or Unauthorized."""
        digest = hash_token(token)
        if token.startswith(JOB_TOKEN_PREFIX):
            job_id = self._lookups.job_id_of(digest)
            if job_id is None:
                raise Unauthorized(_UNKNOWN)
            return Principal(actor=f"job:{job_id}", role=Role.JOB, job_id=job_id, token_id=digest)
        stored = self._lookups.api_token_of(digest)
        if stored is None or not hmac.compare_digest(stored.token_hash, digest):
            raise Unauthorized(_UNKNOWN)
        now = utc_now()
        if stored.expires_at is not None and as_utc(stored.expires_at) <= now:
            expired = iso_text(stored.expires_at)
            raise Unauthorized(f"the bearer token {stored.name!r} expired at {expired}")
        if stored.last_used_at is None or now - as_utc(stored.last_used_at) >= LAST_USE_RESOLUTION:
            self._lookups.record_use(stored.name, now)
        return Principal(actor=stored.name, role=stored.role, token_id=stored.token_hash)
