"""The current time as stored and answered: timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """`moment` with UTC attached; SQLite hands back naive datetimes of what was stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def iso_text(moment: datetime) -> str:
    """`moment` (naive = UTC, as `as_utc`) as the API writes times: ISO 8601, `Z` for UTC (what
    pydantic answers elsewhere, for answers written without it)."""
    text = moment.isoformat()
    if moment.tzinfo is None:
        return text + "Z"
    return text[:-6] + "Z" if text.endswith("+00:00") else text
