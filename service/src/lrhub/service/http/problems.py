"""The one place where errors become RFC 9457 `application/problem+json` responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lrhub.schedules.specs import SPEC_TYPES
from lrhub.service.errors import (
    HttpError,
    InvalidInput,
    MalformedRequest,
    NotFound,
    ServiceError,
    Unavailable,
)
from lrhub.service.http.strict_json import NonFiniteNumber

PROBLEM_BASE = "https://lrhub.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger("lrhub.service")


def problem_response(error: ServiceError, instance: str) -> JSONResponse:
    """A problem+json response for `error`; `instance` is the request path."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": instance,
    }
    if isinstance(error, InvalidInput):
        body["errors"] = error.errors
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(
        body, status_code=error.status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


# Keys under which a spec sits: pydantic puts the union's tag (the spec "type") after them.
_SPEC_KEYS = frozenset({"spec", "schedule", "base"})


def _loc(error: dict[str, Any]) -> str:
    """pydantic's loc as `body.spec.decay_steps`: without the spec union's tag."""
    parts: list[str] = []
    after_spec_key = False
    for part in error.get("loc", ()):
        if not (after_spec_key and part in SPEC_TYPES):
            parts.append(str(part))
        after_spec_key = part in _SPEC_KEYS
    if error.get("type") in {"union_tag_invalid", "union_tag_not_found"}:
        parts.append("type")
    return ".".join(parts)


def _message(error: dict[str, Any]) -> str:
    if isinstance(error.get("input"), NonFiniteNumber):
        return f"must be a finite number, not {error['input'].literal}"
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
    return InvalidInput([{"loc": _loc(error), "msg": _message(error)} for error in raw])


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


async def _on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Connection refused, pool exhausted, SQLite file unreachable or locked past busy_timeout:
    # the caller can retry (decisions are idempotent); the log says which.
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(Unavailable("the database is unavailable; retry"), request.url.path)


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
    app.add_exception_handler(OperationalError, _on_database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _on_database_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
