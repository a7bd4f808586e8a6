"""The OpenAPI document: every error answer is documented as `application/problem+json`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

# The errors any /v1 operation may answer (docs/http-api.md "Errors").
V1_PROBLEM_STATUSES = (400, 401, 403, 404, 408, 409, 412, 413, 422, 500, 503)
_DESCRIPTIONS = {
    400: "Malformed request: the body is not JSON",
    401: "Unauthorized: no, unknown, revoked or expired bearer token",
    403: "Forbidden: the token's role may not do this (e.g. a job token outside its job)",
    404: "Not found: unknown schedule, version, job or token",
    408: "Request timeout: the body did not arrive in time",
    409: "Conflict with the current state",
    412: "Precondition failed: If-Match does not match the ETag",
    413: "Payload too large",
    422: "Validation or evaluation error; errors[].loc names each field",
    500: "Internal error (no internals are shown)",
    503: "Database unavailable; retry",
}


class FieldError(BaseModel):
    """One invalid field."""

    loc: str
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting problem answers with these statuses."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` document error bodies under `application/problem+json`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operations in schema["paths"].values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        response["content"] = {
                            "application/problem+json": content.pop("application/json")
                        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
