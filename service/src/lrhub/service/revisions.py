"""Conditional changes: the revision a caller expects a resource to be at before changing it."""

from __future__ import annotations

from dataclasses import dataclass

from lrhub.service.errors import PreconditionFailed


@dataclass(frozen=True)
class ExpectedRevision:
    """Change the resource only if it exists (`any_revision`) or is at one of `revisions`.

    Services take it as a plain value; on the wire it is an `If-Match` header, which the routes
    turn into this.
    """

    revisions: frozenset[int] = frozenset()
    any_revision: bool = False

    def require(self, current: int | None, what: str) -> None:
        """Raise PreconditionFailed unless `current` is expected (None: `what` does not exist)."""
        if current is not None and (self.any_revision or current in self.revisions):
            return
        now = f"is at revision {current}" if current is not None else "does not exist"
        raise PreconditionFailed(f"{what} {now}, not the one expected; read it again and retry")


def require_revision(expected: ExpectedRevision | None, current: int | None, what: str) -> None:
    """`expected.require(current, what)`, when the caller expects anything at all."""
    if expected is not None:
        expected.require(current, what)
