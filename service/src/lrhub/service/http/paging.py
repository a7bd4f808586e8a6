"""Opaque cursors for paged lists: `{"items": [...], "next_cursor": ...}`."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Query

from lrhub.service.errors import InvalidInput

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
]
DEFAULT_LIMIT = 100


def encode_cursor(position: str | int) -> str:
    """An opaque cursor for the last item shown."""
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The position inside `cursor`; 422 on `query.cursor` when it was not made by us."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidInput.field("query.cursor", "not a cursor this server gave out") from error


def decode_int_cursor(cursor: str | None) -> int | None:
    """An integer position inside `cursor` (ids)."""
    position = decode_cursor(cursor)
    if position is None:
        return None
    if not position.isdigit():
        raise InvalidInput.field("query.cursor", "not a cursor this server gave out")
    return int(position)
