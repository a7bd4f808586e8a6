"""The service's exception hierarchy. `lrhub.service.http.problems` maps each class to its HTTP
status and problem type, in one table; nothing else in the service knows about HTTP statuses.

    ServiceError            something the service could not do
    ├── Unauthorized        no credentials, or unknown ones
    ├── Forbidden           the caller may not do this
    ├── NotFound            an unknown schedule, version or job (`field` names a reference)
    ├── Conflict            the change contradicts the current state (schedule in use, job stopped)
    ├── PreconditionFailed  the resource is not at the revision the caller expected
    ├── InvalidChange       a value breaks a domain rule; `field` names it (e.g. "follow")
    ├── EvaluationFailed    the schedule could not give a rate for this epoch
    ├── TooManyMatches      a selection is larger than one request may change (LRHUB_BULK_MAX)
    ├── Unavailable         the database cannot be reached; callers retry
    │   └── ChangeInterrupted   a bulk change was cut short; `change_id` names its record
    └── RequestError        the request itself is unusable, found by the HTTP layer
        ├── MalformedRequest    the body is not JSON or has the wrong content type
        ├── PayloadTooLarge     the body is over the configured limit
        ├── RequestTimeout      the body did not arrive in time
        ├── InvalidRequest      request fields fail validation; `errors` lists {"loc", "msg"}
        └── HttpError           any other status the framework raises (405, ...)

Service functions raise the domain errors; their messages say what is wrong in the domain's own
terms and never name request locations (`body.x`, `query.y`), which only the HTTP layer knows.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class ServiceError(Exception):
    """Base of every error the service answers; `detail` is shown to the caller, and `field`,
    when given, names the attribute the error is about (e.g. "schedule" for an unknown one).
    `members` are facts the caller can act on, answered beside the detail (e.g. `change_id`)."""

    def __init__(
        self, detail: str, *, field: str | None = None, members: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.members = members or {}


class Unauthorized(ServiceError):
    """Auth is on and the bearer token is missing or unknown."""


class Forbidden(ServiceError):
    """The token is valid but may not do this."""


class NotFound(ServiceError):
    """An unknown schedule, version or job."""


class Conflict(ServiceError):
    """The change contradicts the current state (schedule in use, job stopped)."""


class PreconditionFailed(ServiceError):
    """The resource is not at the revision the caller expected (`If-Match` on the wire)."""


class InvalidChange(ServiceError):
    """A value breaks a domain rule; `field` is the name of the offending attribute."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)


class EvaluationFailed(ServiceError):
    """The schedule could not give a rate for this epoch."""


class TooManyMatches(ServiceError):
    """A bulk change's selector matches more jobs than one request may change."""


class Unavailable(ServiceError):
    """The database is unreachable; clients retry."""


class ChangeInterrupted(Unavailable):
    """A bulk change stopped midway (the database became unreachable); its record
    (`GET /v1/changes/{change_id}`) lists exactly the jobs it changed."""

    def __init__(self, change_id: str, *, done: int, of: int) -> None:
        super().__init__(
            f"the change stopped after {done} of {of} jobs: the database is unavailable; "
            f"change {change_id} records which jobs changed",
            members={"change_id": change_id},
        )
        self.change_id = change_id


class RequestError(ServiceError):
    """The request itself is unusable; raised by the HTTP layer, never by service functions."""


class MalformedRequest(RequestError):
    """The body is not JSON or has the wrong content type."""


class PayloadTooLarge(RequestError):
    """The body is larger than `LRHUB_MAX_BODY_BYTES`."""


class HeadersTooLarge(RequestError):
    """The request's headers are larger than `LRHUB_MAX_HEADER_BYTES`."""


class RequestTimeout(RequestError):
    """The body did not arrive within `LRHUB_BODY_TIMEOUT` seconds."""


class InvalidRequest(RequestError):
    """Request fields are invalid; `errors` lists each as {"loc": "body.x.y", "msg": ...}."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['loc']}: {error['msg']}" for error in errors[:5]))
        self.errors = errors

    @classmethod
    def at(cls, loc: str, msg: str) -> InvalidRequest:
        """The error for one field, e.g. `InvalidRequest.at("query.cursor", "not a cursor")`."""
        return cls([{"loc": loc, "msg": msg}])


class HttpError(RequestError):
    """An HTTP error raised by the framework itself, such as 405 for a method a route lacks."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


#: What a database that cannot be reached raises: connection refused or timed out, pool
#: exhausted, SQLite file unreachable or locked past busy_timeout. Requests answer it 503
#: (`http.problems`); background loops log it in one line and try again next round.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, PoolTimeoutError)
