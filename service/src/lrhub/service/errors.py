"""The service's exception hierarchy; `problems.py` maps it to RFC 9457 problem+json.

    ServiceError (500 internal-error)
    ├── MalformedRequest    400 malformed-request
    ├── Unauthorized        401 unauthorized
    ├── Forbidden           403 forbidden
    ├── NotFound            404 not-found
    ├── Conflict            409 conflict
    ├── PreconditionFailed  412 precondition-failed
    ├── PayloadTooLarge     413 payload-too-large
    ├── InvalidInput        422 validation-error   (carries errors[] with loc/msg)
    ├── EvaluationFailed    422 evaluation-error
    ├── Unavailable         503 unavailable
    └── HttpError           any other status the framework raises (405 method-not-allowed, ...)

Service functions raise these; endpoints never build error responses themselves.
"""

from __future__ import annotations

from http import HTTPStatus


class ServiceError(Exception):
    """Base of every error the service answers; `detail` is shown to the caller."""

    status = 500
    slug = "internal-error"
    title = "Internal server error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedRequest(ServiceError):
    """The body is not JSON or has the wrong content type."""

    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class Unauthorized(ServiceError):
    """Auth is on and the bearer token is missing or unknown."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(ServiceError):
    """The token is valid but may not do this."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(ServiceError):
    """An unknown schedule, version or job."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(ServiceError):
    """The change contradicts the current state (schedule in use, job stopped)."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class PreconditionFailed(ServiceError):
    """`If-Match` does not match the current ETag."""

    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLarge(ServiceError):
    """The body is larger than `LRHUB_MAX_BODY_BYTES`."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class InvalidInput(ServiceError):
    """A field is invalid; `errors` lists each as {"loc": "body.x.y", "msg": ...}."""

    status = 422
    slug = "validation-error"
    title = "Request validation failed"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{error['loc']}: {error['msg']}" for error in errors[:5]))
        self.errors = errors

    @classmethod
    def field(cls, loc: str, msg: str) -> InvalidInput:
        """The error for one field, e.g. `InvalidInput.field("body.epochs", "too many")`."""
        return cls([{"loc": loc, "msg": msg}])


class EvaluationFailed(ServiceError):
    """The schedule could not give a rate for this epoch."""

    status = 422
    slug = "evaluation-error"
    title = "The schedule could not be evaluated"


class Unavailable(ServiceError):
    """The database is unreachable; clients retry."""

    status = 503
    slug = "unavailable"
    title = "Service unavailable"


class HttpError(ServiceError):
    """An HTTP error raised by the framework itself, such as 405 for a method a route lacks."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        phrase = HTTPStatus(status).phrase
        self.status = status
        self.slug = phrase.lower().replace(" ", "-")
        self.title = phrase
