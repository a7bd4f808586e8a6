"""ASGI middleware bounding request bodies: by Content-Length up front and while streaming, and
in time (a body that has not all arrived `LRHUB_BODY_TIMEOUT` seconds after its headers is
answered 408 and its connection closed)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrhub.service.errors import MalformedRequest, PayloadTooLarge, RequestError, RequestTimeout
from lrhub.service.http.problems import problem_response


class BodyLimitMiddleware:
    """Answer 413 problem+json for bodies above `max_bytes`, before the app sees them.

    Bodies are read fully here (they are at most `max_bytes`, 256 KiB by default) and replayed
    to the app, so a chunked upload that grows past the limit is refused without buffering more.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, send, MalformedRequest("Content-Length is not a number"))
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send, self._too_large())
                return
        try:
            async with asyncio.timeout(self.timeout):
                chunks = await self._read(receive)
        except TimeoutError:
            late = RequestTimeout(f"the request body did not arrive within {self.timeout:g} s")
            await self._refuse(scope, send, late)
            return
        except PayloadTooLarge as error:
            await self._refuse(scope, send, error)
            return
        if chunks is None:
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> list[bytes] | None:
        """The body's chunks; None if the client went away; PayloadTooLarge past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes")

    @staticmethod
    async def _refuse(scope: Scope, send: Send, error: RequestError) -> None:
        response = problem_response(error, scope.get("path", ""))
        response.headers["Connection"] = "close"

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)
