"""`/v1/tokens`: API tokens with roles (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from lrhub.service.auth.principal import Role
from lrhub.service.context import Caller, Context
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, page_of
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.tokens import service as token_service
from lrhub.service.tokens.schemas import (
    TOKEN_NAME_PATTERN,
    Me,
    Token,
    TokenCreate,
    TokenCreated,
)

router = v1_router("/v1/tokens", "tokens")
me_router = v1_router("/v1/me", "tokens")

TokenNamePath = Annotated[str, Path(pattern=TOKEN_NAME_PATTERN, max_length=128)]


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, context: Context, caller: Caller) -> Response:
    """Create a token; its secret is in this answer only (it is stored hashed)."""
    created = token_service.create_token(
        context.engine, context.authenticator, caller, body.name, Role(body.role), body.expires_in
    )
    answer = TokenCreated(**Token.of(created.token).model_dump(), token=created.secret)
    return model_response(answer, status_code=201)


@router.get("", response_model=Page[Token])
def list_tokens(
    context: Context, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """Tokens by name: role, creation, expiry and last use; never a secret."""
    after = decode_cursor(cursor, TOKEN_NAME_PATTERN)
    tokens = token_service.list_tokens(context.engine, caller, after, limit)
    return model_response(page_of(tokens, limit, lambda token: token.name, Token.of))


@router.delete("/{name}", status_code=204, response_class=Response)
def revoke_token(name: TokenNamePath, context: Context, caller: Caller) -> Response:
    """Revoke the token: every server refuses it from the next request on."""
    token_service.revoke_token(context.engine, caller, name)
    return Response(status_code=204)


@me_router.get("", response_model=Me)
def get_me(context: Context, caller: Caller) -> Response:
    """The caller's name and role, for any valid token (the dashboard shows only the controls
    that role may use); without tokens configured the caller is an anonymous admin."""
    answer = Me(
        name=caller.actor,
        role=caller.role,
        job_id=caller.job_id,
        auth=context.authenticator.enabled,
    )
    return model_response(answer)
