"""Paged lists, `{"items": [...], "next_cursor": ...}`, and their opaque cursors.

A cursor is decoded and validated here, at the edge: service functions receive the position it
carries (a name or an id) and return at most `limit` records after it. Whatever its text decodes
to, a cursor becomes either a position the database can compare (an id within its integer range,
or a name matching the pattern of the names listed) or a 422 on `query.cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from lrhub.service.errors import InvalidRequest

Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
]
DEFAULT_LIMIT = 100

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next one."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(position: str | int) -> str:
    """An opaque cursor for the last item shown."""
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


# The ids cursors carry are INTEGER columns: 32-bit signed on PostgreSQL.
MAX_ID = 2**31 - 1
_NOT_OURS = "not a cursor this server gave out"


def _decoded(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise InvalidRequest.at("query.cursor", _NOT_OURS) from error


def decode_cursor(cursor: str | None, name_pattern: str) -> str | None:
    """The name inside `cursor`, which must match `name_pattern` (that of the names listed);
    422 on `query.cursor` when it was not made by us."""
    if cursor is None:
        return None
    position = _decoded(cursor)
    if not re.fullmatch(name_pattern.removeprefix("^").removesuffix("$"), position):
        raise InvalidRequest.at("query.cursor", _NOT_OURS)
    return position


def decode_int_cursor(cursor: str | None) -> int | None:
    """The id inside `cursor`: plain ASCII digits, at most MAX_ID."""
    if cursor is None:
        return None
    position = _decoded(cursor)
    # str.isdigit alone admits other scripts' digits and superscripts ("²"), which int() refuses.
    if not (position.isascii() and position.isdigit()) or len(position) > len(str(MAX_ID)):
        raise InvalidRequest.at("query.cursor", _NOT_OURS)
    value = int(position)
    if value > MAX_ID:
        raise InvalidRequest.at("query.cursor", _NOT_OURS)
    return value


def page_of(
    records: Sequence[R],
    limit: int | None,
    position: Callable[[R], str | int],
    item: Callable[[R], T],
) -> Page[T]:
    """The page showing `records`; it has a next cursor when it is full."""
    full = limit is not None and len(records) == limit
    next_cursor = encode_cursor(position(records[-1])) if records and full else None
    return Page[T](items=[item(record) for record in records], next_cursor=next_cursor)


# `{"items":[],"next_cursor":` + `}`, and room for the quoted cursor of an id.
_PAGE_OVERHEAD_BYTES = len('{"items":[],"next_cursor":}') + 2 + len(encode_cursor(MAX_ID))


def byte_bounded_page_json(
    records: Iterable[R],
    limit: int,
    position: Callable[[R], str | int],
    item: Callable[[R], BaseModel],
    max_bytes: int,
) -> bytes:
    """The JSON body of the `Page` showing `records` (at most `limit` of them), stopping before
    the item that would take the body past `max_bytes`; the first item is shown whatever its
    size, so every page moves on. It has a next cursor when it is full or stopped early.

    Items are serialized as they are taken, so records past the bound are never turned into
    items (they may be computed lazily, like derived per-step rates).
    """
    parts: list[bytes] = []
    size = _PAGE_OVERHEAD_BYTES
    last: R | None = None
    stopped = False
    for record in records:
        if len(parts) == limit:
            break
        part = item(record).model_dump_json().encode()
        size += len(part) + (1 if parts else 0)
        if parts and size > max_bytes:
            stopped = True
            break
        parts.append(part)
        last = record
    more = stopped or len(parts) == limit
    cursor = encode_cursor(position(last)) if last is not None and more else None
    return b"".join(
        (b'{"items":[', b",".join(parts), b'],"next_cursor":', json.dumps(cursor).encode(), b"}")
    )
