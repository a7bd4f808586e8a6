"""Use cases on API tokens (admin only); each function is one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lrhub.service.auth.principal import Principal, Role
from lrhub.service.auth.tokens import Authenticator, hash_token, new_api_token
from lrhub.service.clock import utc_now
from lrhub.service.errors import Conflict, NotFound
from lrhub.service.storage.database import (
    read_transaction,
    single_statement_read,
    write_transaction,
)
from lrhub.service.tokens import store as token_store
from lrhub.service.tokens.model import StoredToken


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its secret, which is answered this once and never stored."""

    token: StoredToken
    secret: str


def create_token(
    engine: Engine,
    authenticator: Authenticator,
    principal: Principal,
    name: str,
    role: Role,
    expires_in: int | None,
) -> CreatedToken:
    """Create the token `name` with `role`; Conflict if the name is taken."""
    principal.require_admin()
    if not authenticator.enabled:
        raise Conflict(
            "auth is off on this server (no LRHUB_ADMIN_TOKEN), so tokens would not be checked"
        )
    if name in authenticator.admin_names:
        raise Conflict(f"{name!r} is the name of an admin token in LRHUB_ADMIN_TOKEN", field="name")
    secret = new_api_token()
    now = utc_now()
    token = StoredToken(
        name=name,
        role=role,
        token_hash=hash_token(secret),
        created_by=principal.actor,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in is not None else None,
        last_used_at=None,
    )
    try:
        with write_transaction(engine) as connection:
            token_store.insert_token(connection, token)
    except IntegrityError as error:
        raise Conflict(f"there is a token named {name!r} already; revoke it first") from error
    return CreatedToken(token=token, secret=secret)


def list_tokens(
    engine: Engine, principal: Principal, after: str | None, limit: int
) -> list[StoredToken]:
    """Tokens by name after the name `after`."""
    principal.require_admin()
    with read_transaction(engine) as connection:
        return token_store.list_tokens(connection, after=after, limit=limit)


def revoke_token(engine: Engine, principal: Principal, name: str) -> None:
    """Delete the token `name`: the next request presenting it, to any server, answers 401."""
    principal.require_admin()
    with write_transaction(engine) as connection:
        if not token_store.delete_token(connection, name):
            raise NotFound(f"there is no token {name!r}")


def find_by_hash(engine: Engine, token_hash: str) -> StoredToken | None:
    """The API token whose secret hashes to `token_hash` (what authentication looks up)."""
    with single_statement_read(engine) as connection:
        return token_store.find_by_hash(connection, token_hash)


def record_use(engine: Engine, name: str, at: datetime) -> None:
    """Note that the token `name` was used at `at`."""
    with write_transaction(engine) as connection:
        token_store.record_use(connection, name, at)
