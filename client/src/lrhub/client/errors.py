"""Exceptions raised by the lrhub client: one hierarchy, and the whole of it is drawn here.

Every error the client raises is an `LrhubError`::

    LrhubError
    ├── TransportError                  the service could not be reached or did not answer
    │   ├── ConnectError                connection refused / DNS / TLS
    │   └── Timeout                     no answer within the timeout
    ├── ProblemError                    the service answered a problem+json (RFC 9457) 4xx/5xx
    │   ├── BadRequest                  400 malformed-request
    │   ├── Unauthorized                401 unauthorized
    │   ├── Forbidden                   403 forbidden
    │   ├── NotFound                    404 not-found
    │   ├── MethodNotAllowed            405 method-not-allowed
    │   ├── Conflict                    409 conflict
    │   ├── RequestTimeout              408 request-timeout (the body arrived too slowly)
    │   ├── PreconditionFailed          412 precondition-failed (stale If-Match)
    │   ├── PayloadTooLarge             413 payload-too-large
    │   ├── HeadersTooLarge             431 headers-too-large
    │   ├── ValidationError             422 validation-error (`errors[].loc` names the field)
    │   ├── EvaluationFailed            422 evaluation-error (no rate for this epoch)
    │   ├── RateLimited                 429
    │   ├── ServiceUnavailable          503 unavailable (database unreachable)
    │   └── ServerError                 any other 5xx
    ├── ServiceDown                     a training run's circuit breaker is open: lrhub not asked
    └── JobConflict                     the job exists with another schedule (also a ValueError)

A problem is matched on its `type` first and on its HTTP status when the type is unknown (a proxy's
plain 502 becomes a `ServerError`). `ServiceDown` and `JobConflict` come from the training
adapters (`lrhub.client.training`), never from a `Client` call.
"""

from __future__ import annotations

from typing import Any

PROBLEM_TYPE_PREFIX = "https://lrhub.dev/problems/"


class LrhubError(Exception):
    """Base of every exception the lrhub client raises."""


class TransportError(LrhubError):
    """The request did not get an HTTP answer."""


class ConnectError(TransportError):
    """The service could not be connected to."""


class Timeout(TransportError):
    """The service did not answer in time."""


class ProblemError(LrhubError):
    """The service answered an error status, described by an RFC 9457 problem document.
    `extensions` holds the problem's other members, such as the `change_id` of a bulk change
    the database stopped midway (`Client.change` reads what it changed)."""

    def __init__(
        self,
        status: int,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        errors: list[dict[str, Any]] | None = None,
        instance: str | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.instance = instance
        self.extensions = extensions or {}
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")


class BadRequest(ProblemError):
    """400: the body is not JSON or has the wrong content type."""


class Unauthorized(ProblemError):
    """401: no or unknown bearer token."""


class Forbidden(ProblemError):
    """403: the token may not do this."""


class NotFound(ProblemError):
    """404: unknown schedule, version or job."""


class MethodNotAllowed(ProblemError):
    """405: the resource does not take this HTTP method."""


class Conflict(ProblemError):
    """409: e.g. deleting a schedule that running jobs use."""


class RequestTimeout(ProblemError):
    """408: the request body did not reach the service in time."""


class PreconditionFailed(ProblemError):
    """412: `If-Match` does not match the current ETag."""


class PayloadTooLarge(ProblemError):
    """413: the body is above the service's limit."""


class HeadersTooLarge(ProblemError):
    """431: the request's headers are above the service's limit."""


class ValidationError(ProblemError):
    """422: an invalid field; `errors[].loc` names it."""


class EvaluationFailed(ProblemError):
    """422: the schedule could not give a rate for this epoch: the service's evaluation failed
    with the engine's `lrhub.schedules.EvaluationError`, a name this client leaves to the engine."""


class RateLimited(ProblemError):
    """429: too many requests; retried with backoff."""


class ServiceUnavailable(ProblemError):
    """503: the service cannot serve now (database unreachable); retried with backoff."""


class ServerError(ProblemError):
    """Any other 5xx."""


class ServiceDown(LrhubError):
    """The circuit breaker of a training run is open: lrhub was not asked (it failed recently and
    does not answer its probe yet)."""


class JobConflict(LrhubError, ValueError):
    """The job id exists with another schedule or spec than the one a training run was given.

    Also a `ValueError`, as it always was: the arguments clash with the job that exists.
    """


_BY_TYPE: dict[str, type[ProblemError]] = {
    "malformed-request": BadRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not-found": NotFound,
    "method-not-allowed": MethodNotAllowed,
    "conflict": Conflict,
    "request-timeout": RequestTimeout,
    "precondition-failed": PreconditionFailed,
    "payload-too-large": PayloadTooLarge,
    "headers-too-large": HeadersTooLarge,
    "validation-error": ValidationError,
    "evaluation-error": EvaluationFailed,
    "rate-limited": RateLimited,
    "unavailable": ServiceUnavailable,
    "internal-error": ServerError,
}

_BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    431: HeadersTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def problem_class(status: int, problem_type: str) -> type[ProblemError]:
    """The exception class for a problem: by its type slug, else by status."""
    if problem_type.startswith(PROBLEM_TYPE_PREFIX):
        by_type = _BY_TYPE.get(problem_type.removeprefix(PROBLEM_TYPE_PREFIX))
        if by_type is not None:
            return by_type
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ProblemError
