"""ETags and `If-Match`: a resource's revision on the wire, and the condition a caller sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Header

from lrhub.service.revisions import ExpectedRevision


def expected_revision(
    if_match: str | None, revision_of: Callable[[str], int | None]
) -> ExpectedRevision | None:
    """What `If-Match` expects (None when absent): `*` any revision, else the revisions of the
    listed ETags that `revision_of` recognises (an ETag of another resource never matches)."""
    if if_match is None:
        return None
    tags = [part.strip().removeprefix("W/") for part in if_match.split(",")]
    revisions = (revision_of(tag) for tag in tags if tag != "*")
    return ExpectedRevision(
        revisions=frozenset(revision for revision in revisions if revision is not None),
        any_revision="*" in tags,
    )


def tagged_revision(tag: str, prefix: str) -> int | None:
    """The revision in an ETag `"<prefix><revision>"`, or None when `tag` is not one."""
    if not (tag.startswith('"' + prefix) and tag.endswith('"')):
        return None
    digits = tag[len(prefix) + 1 : -1]
    return int(digits) if digits.isascii() and digits.isdigit() else None


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Only apply the change if the resource's current ETag matches.",
    ),
]
