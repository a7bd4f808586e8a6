"""What every request and its answer go through, sync or async: the retry policy, `Call` (one
API operation), `Retry-After`, problem+json to exception, transport errors, the URL check and the
Server-Sent Events parser."""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import ConnectError, ProblemError, Timeout, TransportError, problem_class
from .models import StreamEvent

ResultT = TypeVar("ResultT")

RETRYABLE_STATUSES = frozenset({429, 503})
# The stream sends a keep-alive comment every 15 s of quiet: a read silent for this long means
# the connection is dead.
STREAM_READ_TIMEOUT_SECONDS = 60.0
STREAM_PATH = "/v1/stream"
# A Retry-After beyond this is a misconfigured proxy, not a reason to freeze a training job.
MAX_RETRY_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter (AWS architecture blog's variant).

    Attempt n (0-based) waits `uniform(0, min(max_backoff, backoff * 2**n))` seconds, or the
    server's `Retry-After` when it sends one.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def backoff_delay(self, attempt: int) -> float:
        """Full-jitter delay before retry number `attempt + 1`."""
        return self.rng.uniform(0.0, min(self.max_backoff, self.backoff * 2**attempt))


@dataclass(frozen=True)
class Call(Generic[ResultT]):
    """One API operation: the request to send and how to read a successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], ResultT]
    params: Sequence[tuple[str, str | int]] = ()
    body: Any = None
    has_body: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    # Safe to send twice even if the first attempt may have reached the server. Decisions are:
    # the service answers a repeated epoch with its stored decision.
    idempotent: bool = True


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The response's Retry-After (delta-seconds or HTTP-date) in seconds, if it has one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


# The members every problem may have; any other is an extension member.
_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "errors", "instance"})


def problem_from_response(response: httpx.Response) -> ProblemError:
    """The exception for an error answer, from its problem+json body when it has one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    problem_type = str(body.get("type") or "about:blank")
    errors = body.get("errors")
    return problem_class(response.status_code, problem_type)(
        status=response.status_code,
        type=problem_type,
        title=str(body.get("title") or response.reason_phrase),
        detail=str(body.get("detail") or ""),
        errors=errors if isinstance(errors, list) else None,
        instance=body.get("instance"),
        extensions={key: value for key, value in body.items() if key not in _PROBLEM_MEMBERS},
    )


def transport_error(error: httpx.TransportError, url: str) -> TransportError:
    """The client's exception for an httpx transport failure of a request to `url`."""
    if isinstance(error, httpx.TimeoutException):
        return Timeout(f"lrhub at {url} did not answer in time: {error!r}")
    if isinstance(error, httpx.ConnectError):
        return ConnectError(f"cannot connect to lrhub at {url}: {error}")
    return TransportError(f"lrhub request to {url} failed: {error!r}")


def checked_url(url: str) -> str:
    """`url` without a trailing slash; ValueError unless it is an http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"the lrhub URL must start with http:// or https:// and name a host, "
            f"e.g. http://127.0.0.1:8000; got {url!r} (from --url, url= or LRHUB_URL)"
        )
    return url.rstrip("/")


class EventStreamParser:
    """Server-Sent Events lines in, `StreamEvent`s out (the WHATWG event-stream format: `id:`,
    `event:` and `data:` fields, comments starting with `:`, a blank line ends an event)."""

    def __init__(self) -> None:
        self._fields: dict[str, list[str]] = {}

    def feed(self, line: str) -> StreamEvent | None:
        """Take one line (without its line break); the event it completes, if any."""
        if line == "":
            fields, self._fields = self._fields, {}
            if "data" not in fields or "id" not in fields:
                return None
            return StreamEvent(
                id=int(fields["id"][-1]),
                event=fields.get("event", ["message"])[-1],
                data=json.loads("\n".join(fields["data"])),
            )
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        self._fields.setdefault(name, []).append(value.removeprefix(" "))
        return None
