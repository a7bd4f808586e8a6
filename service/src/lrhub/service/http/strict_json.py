"""Strict requests: JSON bodies without NaN/Infinity, and no unknown query parameters.

Python's json module accepts NaN and Infinity; here each such literal parses to a
`NonFiniteNumber` that no model field accepts, so the request fails validation (422) at the exact
field, and the message says why. A query parameter the operation does not declare is a 422 too:
a typo (`labels=` for `label=`) must never be ignored and silently widen a selection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from lrhub.service.errors import InvalidRequest


class NonFiniteNumber:
    """What `NaN`, `Infinity` and `-Infinity` parse to: a value no number field accepts."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return self.literal


class StrictJsonRequest(Request):
    """A Request whose `json()` refuses non-finite number literals (see module docstring)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_constant=NonFiniteNumber)
            except RecursionError:
                # FastAPI answers JSONDecodeError as "body is not valid JSON: <msg>".
                text = body.decode(errors="replace")
                raise json.JSONDecodeError("it nests too deeply", text, 0) from None
        return self._json


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameter names an operation and its dependencies declare."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= declared_query_parameters(dependency)
    return frozenset(names)


def unknown_query_parameters(request: Request, known: frozenset[str]) -> InvalidRequest | None:
    """The 422 for the query parameters of `request` that are not in `known`, if any."""
    unknown = sorted(set(request.query_params) - known)
    if not unknown:
        return None
    takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
    return InvalidRequest(
        [{"loc": f"query.{name}", "msg": f"unknown query parameter; {takes}"} for name in unknown]
    )


class StrictJsonRoute(APIRoute):
    """An APIRoute that parses bodies with `StrictJsonRequest` and refuses query parameters
    its operation does not declare (in its signature or its dependencies)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = declared_query_parameters(self.dependant)

        async def strict_handler(request: Request) -> Response:
            error = unknown_query_parameters(request, known)
            if error is not None:
                raise error
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
