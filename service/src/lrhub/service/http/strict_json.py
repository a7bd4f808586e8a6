"""JSON request bodies without numbers the service cannot compute with: NaN/Infinity, which
Python's json module would otherwise accept, and integers too large for a float (which any rate
computation would turn into an OverflowError).

Each such literal parses to a `RefusedNumber` that no model field accepts, so the request fails
validation (422) at the exact field, and the message says why.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

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


class StrictJsonRoute(APIRoute):
    """An APIRoute that parses bodies with `StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
