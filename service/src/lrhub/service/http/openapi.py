"""The OpenAPI document as code generators and linters consume it.

Everything here is applied to every route, so a new route gets it without asking: readable
operation ids from the handler's name, the bearer scheme on every /v1 operation, error answers
under `application/problem+json`, and the spec union's `type` required wherever it discriminates.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

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
BEARER_SCHEME = "bearerAuth"
_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An admin token (LRHUB_ADMIN_TOKEN) or the job token answered when the job "
    "was created. Not needed while the server runs without admin tokens.",
}
_ETAG_HEADER = {
    "ETag": {
        "description": "The resource's version, for `If-Match` on the next change.",
        "schema": {"type": "string"},
    }
}


class FieldError(BaseModel):
    """One invalid field."""

    loc: str
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem detail; extension members say more where a problem has them (e.g.
    `change_id` of a bulk change that stopped midway)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting problem answers with these statuses."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def with_etag(
    *statuses: int, models: dict[int, type[BaseModel]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries saying that these success answers carry an `ETag` header."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"headers": _ETAG_HEADER}
        if models and status in models:
            entry["model"] = models[status]
        entries[status] = entry
    return entries


def operation_id(route: APIRoute) -> str:
    """The handler's name in camelCase (`put_schedule` -> `putSchedule`): stable and readable."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _problems_as_problem_json(operation: dict[str, Any]) -> None:
    for status, response in operation.get("responses", {}).items():
        content = response.get("content", {})
        if status[0] in "45" and "application/json" in content:
            response["content"] = {"application/problem+json": content.pop("application/json")}


def _require_discriminators(schemas: dict[str, Any]) -> None:
    """Mark each discriminator's property required in the schemas its mapping names.

    pydantic gives every spec's `type` its one value as a default, so it is optional in the JSON
    schema; but the union cannot be told apart without it, and generators need it required.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            discriminator = node.get("discriminator")
            if isinstance(discriminator, dict):
                name = discriminator["propertyName"]
                for ref in discriminator.get("mapping", {}).values():
                    target = schemas[ref.removeprefix("#/components/schemas/")]
                    required = target.setdefault("required", [])
                    if name not in required:
                        required.insert(0, name)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schemas)


def _title_input_output_variants(schemas: dict[str, Any]) -> None:
    """`StepDecaySpec-Input` and `-Output` keep pydantic's one title; generators that name
    classes by title (openapi-python-client) need the two told apart."""
    for name, schema in schemas.items():
        if name.endswith(("-Input", "-Output")):
            schema["title"] = name.replace("-", "")


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` the document described in this module's docstring."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            servers=app.servers,
            license_info=app.license_info,
        )
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = _BEARER
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                _problems_as_problem_json(operation)
                # The operational routes answer without a token (probes, Prometheus).
                operation["security"] = [{BEARER_SCHEME: []}] if path.startswith("/v1/") else []
        _require_discriminators(components.get("schemas", {}))
        _title_input_output_variants(components.get("schemas", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
