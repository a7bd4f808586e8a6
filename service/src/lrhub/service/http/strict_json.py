"""JSON request bodies without NaN/Infinity, which Python's json module would otherwise accept.

Each such literal parses to a `NonFiniteNumber` that no model field accepts, so the request fails
validation (422) at the exact field, and the message says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


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


class StrictJsonRoute(APIRoute):
    """An APIRoute that parses bodies with `StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
