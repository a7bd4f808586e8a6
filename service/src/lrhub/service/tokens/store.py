"""Storage of API tokens (SQLAlchemy Core); only each secret's sha256 is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lrhub.service.auth.principal import Role
from lrhub.service.storage.tables import tokens
from lrhub.service.tokens.model import StoredToken


def _token(row: Mapping[Any, Any]) -> StoredToken:
    return StoredToken(**{**row, "role": Role(row["role"])})


def insert_token(connection: Connection, token: StoredToken) -> None:
    """Store a new token (IntegrityError if the name is taken)."""
    connection.execute(insert(tokens).values(**asdict(token) | {"role": token.role.value}))


def find_by_hash(connection: Connection, token_hash: str) -> StoredToken | None:
    """The token whose secret hashes to `token_hash`."""
    row = connection.execute(select(tokens).where(tokens.c.token_hash == token_hash)).mappings()
    found = row.first()
    return _token(found) if found else None


def record_use(connection: Connection, name: str, at: datetime) -> None:
    """Remember that the token was used at `at`."""
    connection.execute(update(tokens).where(tokens.c.name == name).values(last_used_at=at))


def list_tokens(connection: Connection, *, after: str | None, limit: int) -> list[StoredToken]:
    """Tokens by name, after the name `after`."""
    query = select(tokens)
    if after is not None:
        query = query.where(tokens.c.name > after)
    rows = connection.execute(query.order_by(tokens.c.name).limit(limit)).mappings()
    return [_token(row) for row in rows]


def delete_token(connection: Connection, name: str) -> bool:
    """Remove the token; False if there is none of that name."""
    return connection.execute(delete(tokens).where(tokens.c.name == name)).rowcount == 1
