"""Bearer-token authentication: admin tokens from settings, job tokens stored as sha256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lrhub.service.errors import Forbidden, Unauthorized
from lrhub.service.http.problems import problem_response
from lrhub.service.jobs import store as job_store
from lrhub.service.settings import AdminToken
from lrhub.service.storage.database import run_blocking, single_statement_read

JOB_TOKEN_PREFIX = "lrj_"
PROTECTED_PREFIX = "/v1/"
PRINCIPAL_STATE_KEY = "principal"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin (or anyone when auth is off), or one job's token."""

    actor: str
    job_id: str | None = None  # set for a job token: the only job it reaches

    @property
    def is_admin(self) -> bool:
        """Admins (and everyone when auth is off) may do anything."""
        return self.job_id is None

    def require_admin(self) -> None:
        """Raise Forbidden unless this is an admin."""
        if not self.is_admin:
            raise Forbidden("a job token may not do this; use an admin token")

    def require_job(self, job_id: str) -> None:
        """Raise Forbidden unless this principal may act on `job_id`."""
        if self.job_id is not None and self.job_id != job_id:
            raise Forbidden(f"this job token belongs to another job, not {job_id!r}")


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


class AuthenticationMiddleware:
    """Authenticate every /v1 request before its body is read, so 401 comes before 400/413/422.

    The Principal is left in the request state for the `Caller` dependency.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        try:
            principal = self.authenticator.authenticate_in_memory(header)
            if isinstance(principal, str):
                principal = await run_blocking(
                    self.authenticator.engine, self.authenticator.authenticate_job_token, principal
                )
        except Unauthorized as error:
            await problem_response(error, scope["path"])(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)
