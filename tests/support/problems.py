"""Checks of RFC 9457 problem answers, shared by the tests of bad requests and of auth."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# Text that only a leaked stack trace or SQL statement would put in an answer: SQL keywords
# compared in upper case (a detail may say "select"), library names in any case.
LEAK_MARKERS = ("Traceback", 'File "', "SELECT ", "INSERT INTO", "UPDATE ", " FROM ")
LEAKED_LIBRARIES = ("sqlalchemy", "psycopg", "sqlite3.")


def assert_problem(
    status: int,
    content_type: str | None,
    body: bytes,
    *,
    expected_status: int | Iterable[int],
    detail_words: Iterable[str] = (),
) -> dict[str, Any]:
    """Assert a problem+json answer with the expected status, type/title/status/detail, a detail
    containing at least one of `detail_words` (case-insensitive), and no leaked internals."""
    allowed = {expected_status} if isinstance(expected_status, int) else set(expected_status)
    text = body.decode("utf-8", errors="replace")
    assert status in allowed, f"status {status}, expected {sorted(allowed)}: {text[:2000]}"
    media_type = content_type or ""
    assert media_type.startswith("application/problem+json"), f"{media_type!r}: {text[:500]}"
    problem = json.loads(text)
    assert isinstance(problem, dict), text[:500]
    for member in ("type", "title", "status", "detail"):
        assert member in problem, f"problem without {member!r}: {text[:500]}"
    assert problem["status"] == status, text[:500]
    words = list(detail_words)
    if words:
        detail = str(problem["detail"]).lower()
        assert any(word.lower() in detail for word in words), (
            f"detail {problem['detail']!r} names none of {words}"
        )
    assert_no_leak(text)
    return problem


def assert_no_leak(text: str) -> None:
    """Assert `text` (an answer's body) shows no stack trace, SQL or database library."""
    for marker in LEAK_MARKERS:
        assert marker not in text, f"answer leaks {marker!r}: {text[:2000]}"
    for library in LEAKED_LIBRARIES:
        assert library not in text.lower(), f"answer leaks {library!r}: {text[:2000]}"
