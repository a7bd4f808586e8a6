"""The one place where errors become RFC 9457 `application/problem+json` responses."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lrhub.schedules import error_location
from lrhub.service.errors import (
    DATABASE_UNAVAILABLE_ERRORS,
    Conflict,
    EvaluationFailed,
    Forbidden,
    HeadersTooLarge,
    HttpError,
    InvalidChange,
    InvalidRequest,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RequestTimeout,
    ServiceError,
    TooManyMatches,
    Unauthorized,
    Unavailable,
)
from lrhub.service.http.strict_json import RefusedNumber

PROBLEM_BASE = "https://lrhub.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger("lrhub.service")


@dataclass(frozen=True)
class ProblemType:
    """How one error class is answered: HTTP status, the problem type's slug, its title."""

    status: int
    slug: str
    title: str


# Every error class of lrhub.service.errors and its answer; a subclass not listed here is
# answered as its nearest listed base. The client's lrhub.client.errors knows each slug.
PROBLEM_TYPES: dict[type[ServiceError], ProblemType] = {
    ServiceError: ProblemType(500, "internal-error", "Internal server error"),
    MalformedRequest: ProblemType(400, "malformed-request", "Malformed request"),
    Unauthorized: ProblemType(401, "unauthorized", "Unauthorized"),
    Forbidden: ProblemType(403, "forbidden", "Forbidden"),
    NotFound: ProblemType(404, "not-found", "Not found"),
    Conflict: ProblemType(409, "conflict", "Conflict"),
    PreconditionFailed: ProblemType(412, "precondition-failed", "Precondition failed"),
    RequestTimeout: ProblemType(408, "request-timeout", "Request timeout"),
    PayloadTooLarge: ProblemType(413, "payload-too-large", "Payload too large"),
    HeadersTooLarge: ProblemType(431, "headers-too-large", "Request header fields too large"),
    InvalidRequest: ProblemType(422, "validation-error", "Request validation failed"),
    InvalidChange: ProblemType(422, "validation-error", "Request validation failed"),
    EvaluationFailed: ProblemType(422, "evaluation-error", "The schedule could not be evaluated"),
    TooManyMatches: ProblemType(422, "validation-error", "Request validation failed"),
    Unavailable: ProblemType(503, "unavailable", "Service unavailable"),
}


def problem_type(error: ServiceError) -> ProblemType:
    """The answer for `error`: its status for a framework error, else `class_problem_type`."""
    if isinstance(error, HttpError):
        phrase = HTTPStatus(error.status).phrase
        return ProblemType(error.status, phrase.lower().replace(" ", "-"), phrase)
    return class_problem_type(type(error))


def class_problem_type(error_class: type[ServiceError]) -> ProblemType:
    """The answer for errors of `error_class`: its entry, or its nearest listed base's."""
    for cls in error_class.__mro__:
        if cls in PROBLEM_TYPES:
            return PROBLEM_TYPES[cls]
    raise TypeError(f"{error_class.__name__} is not a ServiceError")


def field_errors(error: ServiceError) -> list[dict[str, str]] | None:
    """The `errors` member of the answer: which request fields are wrong, if any."""
    if isinstance(error, InvalidRequest):
        return error.errors
    if isinstance(error, InvalidChange):
        return [{"loc": _body_location(error.field), "msg": error.detail}]
    return None


def _body_location(field: str | None) -> str:
    # Domain errors name an attribute; unless the route says otherwise (`fields_in`), the
    # attribute arrived in the request body.
    return f"body.{field}"


@contextmanager
def fields_in(location: str, *fields: str) -> Iterator[None]:
    """Within the block, a domain error about one of `fields` names it at `location` (e.g.
    "query") instead of in the body: the route knows where each value came from."""
    try:
        yield
    except InvalidChange as error:
        if error.field not in fields:
            raise
        raise InvalidRequest.at(f"{location}.{error.field}", error.detail) from error


# 401 says how to authenticate; 503 (database unreachable or a lock wait past its bound) says
# when to come back, and the client's retries honour it.
_HEADERS_BY_STATUS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


def problem_response(error: ServiceError, instance: str) -> JSONResponse:
    """A problem+json response for `error`; `instance` is the request path."""
    kind = problem_type(error)
    detail = error.detail
    if isinstance(error, PreconditionFailed):
        # Only a conditional request fails a precondition, and the condition is its header.
        detail = f"If-Match does not name the current ETag: {detail}"
    if error.field is not None:
        detail = f"{_body_location(error.field)}: {detail}"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind.slug,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": instance,
    }
    errors = field_errors(error)
    if errors is not None:
        body["errors"] = errors
    body.update(error.members)
    headers = _HEADERS_BY_STATUS.get(kind.status)
    return JSONResponse(
        body, status_code=kind.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


def _message(error: dict[str, Any]) -> str:
    if isinstance(error.get("input"), RefusedNumber):
        return str(error["input"].reason)
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ValueError):
        return str(cause)  # the validator's own sentence, without pydantic's "Value error, "
    return str(error.get("msg", "invalid"))


def validation_problem(exc: RequestValidationError) -> ServiceError:
    """FastAPI's validation error as ours: 400 for unparsable bodies, else 422 per field."""
    raw = list(exc.errors())
    for error in raw:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "invalid JSON")
            return MalformedRequest(f"body is not valid JSON: {reason}")
        if tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes):
            return MalformedRequest("body must be JSON sent with Content-Type: application/json")
    return InvalidRequest([{"loc": error_location(error), "msg": _message(error)} for error in raw])


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return problem_response(exc, request.url.path)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc), request.url.path)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: ServiceError
    if exc.status_code == 404:
        error = NotFound(f"no resource at {request.url.path}")
    elif exc.status_code == 405:
        error = HttpError(405, f"{request.method} is not allowed on {request.url.path}")
    elif exc.status_code == 400:
        error = MalformedRequest(str(exc.detail))
    else:
        error = HttpError(exc.status_code, str(exc.detail))
    response = problem_response(error, request.url.path)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def database_unavailable_response(method: str, path: str, exc: Exception) -> JSONResponse:
    """503 for a database that cannot be reached: the caller can retry (decisions are
    idempotent); the log says why, without a traceback."""
    logger.warning("database unavailable on %s %s: %s", method, path, exc)
    return problem_response(Unavailable("the database is unavailable; retry"), path)


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return database_unavailable_response(request.method, request.url.path, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The log keeps the traceback; the caller gets no internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        ServiceError("the server failed to answer this request; it has been logged"),
        request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the app can raise through problem+json."""
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for unavailable in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _on_database_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
