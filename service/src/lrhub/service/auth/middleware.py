"""Authentication of every /v1 request, before its body is read."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lrhub.service.auth.tokens import Authenticator
from lrhub.service.errors import DATABASE_UNAVAILABLE_ERRORS, Unauthorized
from lrhub.service.http.problems import database_unavailable_response, problem_response

PROTECTED_PREFIX = "/v1/"
PRINCIPAL_STATE_KEY = "principal"


class AuthenticationMiddleware:
    """Authenticate every /v1 request before its body is read, so 401 comes before 400/413/422.

    The Principal is left in the request state for the `Caller` dependency. A stored token that
    cannot be looked up because the database is unreachable is answered 503 like any other
    request then (the caller retries), not 500.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        try:
            principal = self.authenticator.authenticate_in_memory(header)
            if isinstance(principal, str):
                principal = await run_in_threadpool(
                    self.authenticator.authenticate_stored, principal
                )
        except Unauthorized as error:
            await problem_response(error, scope["path"])(scope, receive, send)
            return
        except DATABASE_UNAVAILABLE_ERRORS as error:
            response = database_unavailable_response(scope["method"], scope["path"], error)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE_KEY] = principal
        await self.app(scope, receive, send)
