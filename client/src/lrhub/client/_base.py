"""What the sync and async clients share: configuration, the retry decision and how an answer
is read. `Client` and `AsyncClient` only add the I/O loop, the way httpx's own `BaseClient` is
split; the operations they send are `_calls`, the request and response helpers `_http`.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import httpx

from ._http import (
    RETRYABLE_STATUSES,
    STREAM_READ_TIMEOUT_SECONDS,
    Call,
    ResultT,
    RetryPolicy,
    checked_url,
    problem_from_response,
    retry_after_seconds,
)
from .settings import ClientSettings


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, made once per process and shared by every client:
    making one loads the CA bundle (about 20 ms), which each client used to pay, an adapter's
    start-up twice."""
    return httpx.create_ssl_context()


class BaseClient:
    """Configuration, the retry decision and how an answer is read, for every operation (the
    operations themselves are `_calls`)."""

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
        return {
            "base_url": self.url,
            "headers": headers,
            "timeout": httpx.Timeout(self.timeout),
            "verify": _tls_context(),
        }

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

    def _stream_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout, read=max(self.timeout, STREAM_READ_TIMEOUT_SECONDS))
