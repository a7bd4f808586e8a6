"""Strict requests: JSON bodies without numbers the service cannot compute with, and no unknown
query parameters.

Python's json module accepts NaN and Infinity; integers too large for a float would turn any rate
computation into an OverflowError. Each such literal parses to a `RefusedNumber` that no model
field accepts, so the request fails validation (422) at the exact field, and the message says why.
A query parameter the operation does not declare is a 422 too: a typo (`labels=` for `label=`)
must never be ignored and silently widen a selection.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from lrhub.service.errors import InvalidRequest

# More digits than the largest float has (1.8e308): such an integer cannot become a rate.
_MAX_INTEGER_DIGITS = len(str(int(sys.float_info.max)))


class RefusedNumber:
    """What a number literal the service refuses parses to: a value no number field accepts."""

    __slots__ = ("literal", "reason")

    def __init__(self, literal: str, reason: str) -> None:
        self.literal = literal
        self.reason = reason

    def __repr__(self) -> str:
        return self.literal if len(self.literal) <= 24 else self.literal[:20] + "..."


def _non_finite(literal: str) -> RefusedNumber:
    return RefusedNumber(literal, f"must be a finite number, not {literal}")


def _integer(literal: str) -> int | RefusedNumber:
    digits = len(literal.lstrip("-"))
    if digits > _MAX_INTEGER_DIGITS or (
        digits == _MAX_INTEGER_DIGITS and abs(int(literal)) > sys.float_info.max
    ):
        return RefusedNumber(literal, f"an integer of {digits} digits is too large for a float")
    return int(literal)


class StrictJsonRequest(Request):
    """A Request whose `json()` refuses non-finite number literals (see module docstring)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, parse_constant=_non_finite, parse_int=_integer)
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


_UNDECLARED_QUERY = "_lrhub_undeclared_query"
EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])


def accepts_undeclared_query(*names: str) -> Callable[[EndpointT], EndpointT]:
    """Let an operation take query parameters that its OpenAPI document does not declare
    (kept for old clients, such as 0.1.0's `?format=csv`); the operation reads them itself."""

    def mark(endpoint: EndpointT) -> EndpointT:
        setattr(endpoint, _UNDECLARED_QUERY, frozenset(names))
        return endpoint

    return mark


class StrictJsonRoute(APIRoute):
    """An APIRoute that parses bodies with `StrictJsonRequest` and refuses query parameters
    its operation does not declare (in its signature or its dependencies)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = declared_query_parameters(self.dependant) | getattr(
            self.endpoint, _UNDECLARED_QUERY, frozenset()
        )

        async def strict_handler(request: Request) -> Response:
            error = unknown_query_parameters(request, known)
            if error is not None:
                raise error
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
