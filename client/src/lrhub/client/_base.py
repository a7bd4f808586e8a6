"""What the sync and async clients share: configuration, request building, response parsing,
problem+json → exception mapping and the retry policy. `Client` and `AsyncClient` only add the
I/O loop, the way httpx's own `BaseClient` is split.
"""

from __future__ import annotations

import email.utils
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import TypeAdapter

from .errors import ConnectError, ProblemError, Timeout, TransportError, problem_class
from .models import (
    AuditEvent,
    BulkChange,
    EpochAnswer,
    Health,
    HistoryEntry,
    Job,
    JobPatch,
    JobToken,
    JsonObject,
    Page,
    PreviewResult,
    Readiness,
    Schedule,
    Series,
    StreamEvent,
    Token,
    TokenCreated,
    TokenRole,
)
from .settings import ClientSettings

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


def _model(adapter: TypeAdapter[ResultT]) -> Callable[[httpx.Response], ResultT]:
    return lambda response: adapter.validate_json(response.content)


def _with_etag(model: type[Schedule] | type[Job]) -> Callable[[httpx.Response], Any]:
    def parse(response: httpx.Response) -> Any:
        data = response.json()
        data["etag"] = response.headers.get("ETag")
        return model.model_validate(data)

    return parse


def _no_content(response: httpx.Response) -> None:
    return None


def _text(response: httpx.Response) -> str:
    return response.text


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


_SCHEDULE_PAGE = TypeAdapter(Page[Schedule])
_JOB_PAGE = TypeAdapter(Page[Job])
_HISTORY_PAGE = TypeAdapter(Page[HistoryEntry])
_HISTORY_ENTRY = TypeAdapter(HistoryEntry)
_SERIES = TypeAdapter(Series)
_EVENT_PAGE = TypeAdapter(Page[AuditEvent])
_PREVIEW = TypeAdapter(PreviewResult)
_DECISION = TypeAdapter(EpochAnswer)
_TOKEN_PAGE = TypeAdapter(Page[Token])
_TOKEN_CREATED = TypeAdapter(TokenCreated)
_JOB_TOKEN = TypeAdapter(JobToken)
_BULK = TypeAdapter(BulkChange)
_HEALTH = TypeAdapter(Health)
_READINESS = TypeAdapter(Readiness)


def _segment(value: str) -> str:
    # Names never contain "/" when valid; quoting keeps an invalid one inside its path segment so
    # the service answers 404/422 for it instead of routing it elsewhere.
    return quote(value, safe="")


def _paging(limit: int | None, cursor: str | None) -> list[tuple[str, str | int]]:
    params: list[tuple[str, str | int]] = []
    if limit is not None:
        params.append(("limit", limit))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


def _if_match(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag is not None else {}


class BaseClient:
    """Configuration and the request/response logic of every lrhub API operation."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        settings: ClientSettings | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Explicit arguments win over `settings`, which default to `ClientSettings()` (env)."""
        settings = settings or ClientSettings()
        self.url = checked_url(url or settings.url)
        secret = settings.token.get_secret_value() if settings.token else None
        self.token = token if token is not None else secret
        self.timeout = timeout if timeout is not None else settings.timeout
        self.job_id = settings.job_id
        retries = max_retries if max_retries is not None else settings.max_retries
        self.retry = retry or RetryPolicy(max_retries=retries)

    def _http_options(self) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": "lrhub-client"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return {"base_url": self.url, "headers": headers, "timeout": httpx.Timeout(self.timeout)}

    def _request_options(self, call: Call[Any]) -> dict[str, Any]:
        options: dict[str, Any] = {"params": list(call.params), "headers": dict(call.headers)}
        if call.has_body:
            options["json"] = call.body
        return options

    def _retry_delay(
        self,
        call: Call[Any],
        attempt: int,
        *,
        response: httpx.Response | None = None,
        error: httpx.TransportError | None = None,
    ) -> float | None:
        """Seconds to wait before retrying, or None when the outcome is final."""
        if attempt >= self.retry.max_retries:
            return None
        if error is not None:
            # A refused connection never reached the server; anything else might have.
            if isinstance(error, httpx.ConnectError) or call.idempotent:
                return self.retry.backoff_delay(attempt)
            return None
        if response is not None and response.status_code in RETRYABLE_STATUSES:
            retry_after = retry_after_seconds(response)
            return retry_after if retry_after is not None else self.retry.backoff_delay(attempt)
        return None

    @staticmethod
    def _result(call: Call[ResultT], response: httpx.Response) -> ResultT:
        if response.is_error:
            raise problem_from_response(response)
        return call.parse(response)

    # -- operations ---------------------------------------------------------------------------

    @staticmethod
    def _put_schedule(
        name: str, spec: JsonObject, description: str | None, if_match: str | None
    ) -> Call[Schedule]:
        body: JsonObject = {"spec": spec}
        if description is not None:
            body["description"] = description
        return Call(
            "PUT",
            f"/v1/schedules/{_segment(name)}",
            _with_etag(Schedule),
            body=body,
            has_body=True,
            headers=_if_match(if_match),
        )

    @staticmethod
    def _get_schedule(name: str, version: int | None) -> Call[Schedule]:
        params: list[tuple[str, str | int]] = [] if version is None else [("version", version)]
        return Call("GET", f"/v1/schedules/{_segment(name)}", _with_etag(Schedule), params=params)

    @staticmethod
    def _list_schedules(limit: int | None, cursor: str | None) -> Call[Page[Schedule]]:
        return Call("GET", "/v1/schedules", _model(_SCHEDULE_PAGE), params=_paging(limit, cursor))

    @staticmethod
    def _list_versions(name: str, limit: int | None, cursor: str | None) -> Call[Page[Schedule]]:
        return Call(
            "GET",
            f"/v1/schedules/{_segment(name)}/versions",
            _model(_SCHEDULE_PAGE),
            params=_paging(limit, cursor),
        )

    @staticmethod
    def _delete_schedule(name: str, if_match: str | None) -> Call[None]:
        return Call(
            "DELETE", f"/v1/schedules/{_segment(name)}", _no_content, headers=_if_match(if_match)
        )

    @staticmethod
    def _preview(
        spec: JsonObject | None,
        schedule: str | None,
        epochs: int,
        steps_per_epoch: int | None,
        metrics: Sequence[Mapping[str, float]] | None,
    ) -> Call[PreviewResult]:
        body = {
            "spec": spec,
            "schedule": schedule,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
            "metrics": None if metrics is None else [dict(m) for m in metrics],
        }
        return Call("POST", "/v1/preview", _model(_PREVIEW), body=body, has_body=True)

    @staticmethod
    def _put_job(
        job_id: str,
        schedule: str | None,
        spec: JsonObject | None,
        follow: str | None,
        scale: float,
        labels: Mapping[str, str] | None,
    ) -> Call[Job]:
        body = {
            "schedule": schedule,
            "spec": spec,
            "follow": follow,
            "scale": scale,
            "labels": dict(labels or {}),
        }
        return Call(
            "PUT", f"/v1/jobs/{_segment(job_id)}", _with_etag(Job), body=body, has_body=True
        )

    @staticmethod
    def _get_job(job_id: str) -> Call[Job]:
        return Call("GET", f"/v1/jobs/{_segment(job_id)}", _with_etag(Job))

    @staticmethod
    def _list_jobs(
        labels: Mapping[str, str] | None,
        status: str | None,
        limit: int | None,
        cursor: str | None,
        selector: str | None = None,
    ) -> Call[Page[Job]]:
        params: list[tuple[str, str | int]] = [
            ("label", f"{key}={value}") for key, value in (labels or {}).items()
        ]
        if status is not None:
            params.append(("status", status))
        if selector:
            params.append(("selector", selector))
        return Call("GET", "/v1/jobs", _model(_JOB_PAGE), params=params + _paging(limit, cursor))

    @staticmethod
    def _patch_job(job_id: str, changes: JobPatch, if_match: str | None) -> Call[Job]:
        return Call(
            "PATCH",
            f"/v1/jobs/{_segment(job_id)}",
            _with_etag(Job),
            body=changes.model_dump(mode="json", exclude_unset=True),
            has_body=True,
            headers=_if_match(if_match),
            idempotent=False,
        )

    @staticmethod
    def _patch_jobs(
        selector: str, changes: JobPatch, dry_run: bool, limit: int | None, cursor: str | None
    ) -> Call[BulkChange]:
        params: list[tuple[str, str | int]] = [
            ("selector", selector),
            ("dry_run", str(dry_run).lower()),
        ]
        return Call(
            "PATCH",
            "/v1/jobs",
            _model(_BULK),
            params=params + _paging(limit, cursor),
            body=changes.model_dump(mode="json", exclude_unset=True),
            has_body=True,
            idempotent=dry_run,
        )

    @staticmethod
    def _stream_params(
        selector: str | None, job: str | None, after: int | None
    ) -> list[tuple[str, str | int]]:
        params: list[tuple[str, str | int]] = []
        if selector:
            params.append(("selector", selector))
        if job is not None:
            params.append(("job", job))
        if after is not None:
            params.append(("after", after))
        return params

    def _stream_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT_SECONDS))

    @staticmethod
    def _decide(
        job_id: str, epoch: int, metrics: Mapping[str, float] | None, steps_per_epoch: int | None
    ) -> Call[EpochAnswer]:
        body = {
            "metrics": None if metrics is None else dict(metrics),
            "steps_per_epoch": steps_per_epoch,
        }
        return Call(
            "POST",
            f"/v1/jobs/{_segment(job_id)}/epochs/{epoch}",
            _model(_DECISION),
            body=body,
            has_body=True,
        )

    @staticmethod
    def _delete_job(job_id: str, if_match: str | None) -> Call[None]:
        return Call(
            "DELETE", f"/v1/jobs/{_segment(job_id)}", _no_content, headers=_if_match(if_match)
        )

    @staticmethod
    def _report_epoch_end(
        job_id: str, epoch: int, metrics: Mapping[str, float]
    ) -> Call[HistoryEntry]:
        return Call(
            "PUT",
            f"/v1/jobs/{_segment(job_id)}/epochs/{epoch}/metrics",
            _model(_HISTORY_ENTRY),
            body={"metrics": dict(metrics)},
            has_body=True,
        )

    @staticmethod
    def _history(
        job_id: str, superseded: bool, limit: int | None, cursor: str | None
    ) -> Call[Page[HistoryEntry]]:
        params: list[tuple[str, str | int]] = [("superseded", str(superseded).lower())]
        return Call(
            "GET",
            f"/v1/jobs/{_segment(job_id)}/epochs",
            _model(_HISTORY_PAGE),
            params=params + _paging(limit, cursor),
        )

    @staticmethod
    def _series(job_id: str, limit: int | None, cursor: str | None) -> Call[Series]:
        return Call(
            "GET",
            f"/v1/jobs/{_segment(job_id)}/series",
            _model(_SERIES),
            params=_paging(limit, cursor),
        )

    @staticmethod
    def _history_csv(job_id: str, superseded: bool) -> Call[str]:
        params: list[tuple[str, str | int]] = [("superseded", str(superseded).lower())]
        return Call("GET", f"/v1/jobs/{_segment(job_id)}/epochs.csv", _text, params=params)

    @staticmethod
    def _events(job_id: str, limit: int | None, cursor: str | None) -> Call[Page[AuditEvent]]:
        return Call(
            "GET",
            f"/v1/jobs/{_segment(job_id)}/events",
            _model(_EVENT_PAGE),
            params=_paging(limit, cursor),
        )

    @staticmethod
    def _rotate_job_token(job_id: str) -> Call[JobToken]:
        # Not idempotent: a second rotation would replace the token the first one answered.
        return Call(
            "POST", f"/v1/jobs/{_segment(job_id)}/token", _model(_JOB_TOKEN), idempotent=False
        )

    @staticmethod
    def _create_token(name: str, role: TokenRole, expires_in: int | None) -> Call[TokenCreated]:
        body: JsonObject = {"name": name, "role": role}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return Call(
            "POST",
            "/v1/tokens",
            _model(_TOKEN_CREATED),
            body=body,
            has_body=True,
            idempotent=False,
        )

    @staticmethod
    def _list_tokens(limit: int | None, cursor: str | None) -> Call[Page[Token]]:
        return Call("GET", "/v1/tokens", _model(_TOKEN_PAGE), params=_paging(limit, cursor))

    @staticmethod
    def _revoke_token(name: str) -> Call[None]:
        return Call("DELETE", f"/v1/tokens/{_segment(name)}", _no_content)

    @staticmethod
    def _health() -> Call[Health]:
        return Call("GET", "/healthz", _model(_HEALTH))

    @staticmethod
    def _ready() -> Call[Readiness]:
        return Call("GET", "/readyz", _model(_READINESS))
