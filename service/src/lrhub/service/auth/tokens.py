"""Bearer tokens: admin tokens from settings, job tokens stored as sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine

from lrhub.service.auth.principal import ANONYMOUS, Principal
from lrhub.service.errors import Unauthorized
from lrhub.service.jobs import store as job_store
from lrhub.service.settings import AdminToken
from lrhub.service.storage.database import single_statement_read

JOB_TOKEN_PREFIX = "lrj_"


def new_job_token() -> str:
    """A fresh job token, shown to the caller once."""
    return JOB_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The sha256 hex digest stored instead of a job token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Turns an `Authorization` header into a Principal."""

    def __init__(self, admin_tokens: list[AdminToken], engine: Engine) -> None:
        self._admin_tokens = [(token.name, token.secret.encode()) for token in admin_tokens]
        self.engine = engine

    @property
    def enabled(self) -> bool:
        """Auth is on exactly when admin tokens are configured."""
        return bool(self._admin_tokens)

    def authenticate_in_memory(self, authorization: str | None) -> Principal | str:
        """The caller, or the presented job token when only the database can tell (see below).

        Raises Unauthorized for a missing or malformed header and for unknown non-job tokens.
        """
        if not self.enabled:
            return Principal(actor=ANONYMOUS)
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send Authorization: Bearer <token>")
        presented = token.encode()
        for name, secret in self._admin_tokens:
            if hmac.compare_digest(presented, secret):
                return Principal(actor=name)
        if not token.startswith(JOB_TOKEN_PREFIX):
            raise Unauthorized("the bearer token is not known")
        return token

    def authenticate_job_token(self, token: str) -> Principal:
        """The job a job token belongs to (a database read), or Unauthorized."""
        digest = hash_token(token)
        with single_statement_read(self.engine) as connection:
            found = job_store.find_by_token_hash(connection, digest)
        if found is None or not hmac.compare_digest(found.token_hash, digest):
            raise Unauthorized("the bearer token is not known")
        return Principal(actor=f"job:{found.job_id}", job_id=found.job_id)
