"""ETags of schedules and jobs, and the `If-Match` check."""

from __future__ import annotations

from lrhub.service.errors import PreconditionFailed


def schedule_etag(name: str, version: int) -> str:
    """`"<name>@<version>"`."""
    return f'"{name}@{version}"'


def job_etag(job_id: str, revision: int) -> str:
    """`"<job_id>#<revision>"` (revision counts PATCHes)."""
    return f'"{job_id}#{revision}"'


def check_if_match(if_match: str | None, current: str | None) -> None:
    """Raise 412 unless `If-Match` is absent, `*` for an existing resource, or lists `current`."""
    if if_match is None:
        return
    candidates = {part.strip().removeprefix("W/") for part in if_match.split(",")}
    if current is not None and ("*" in candidates or current in candidates):
        return
    shown = current or "(none: it does not exist)"
    raise PreconditionFailed(
        f"If-Match {if_match} does not match the current ETag {shown}; "
        "read the resource again and retry"
    )
