"""`lrhub tokens`: API tokens with roles (admin)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ..models import TokenRole
from ._shared import Cursor, JsonFlag, Limit, echo_json, open_client, reports_errors

app = typer.Typer(help="API tokens with roles (admin).", no_args_is_help=True)

TokenName = Annotated[str, typer.Argument(help="Token name (the actor audit events record).")]


@app.command("create")
@reports_errors
def tokens_create(
    ctx: typer.Context,
    name: TokenName,
    role: Annotated[
        TokenRole,
        typer.Option(
            # One word for the value: the choices in the help's text wrap between words, while
            # a metavar listing them all is cut wherever the column ends.
            "--role",
            metavar="ROLE",
            help="What the token may do: admin, operator, viewer or creator.",
        ),
    ],
    expires_in: Annotated[
        int | None, typer.Option(help="Seconds until it stops working (default: never).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API token and print its secret, which is shown this once."""
    with open_client(ctx) as client:
        created = client.create_token(name, role=role, expires_in=expires_in)
    if as_json:
        echo_json(created)
    else:
        typer.echo(created.token)


@app.command("list")
@reports_errors
def tokens_list(
    ctx: typer.Context, limit: Limit = None, cursor: Cursor = None, as_json: JsonFlag = False
) -> None:
    """List API tokens: role, creation, expiry and last use (never secrets)."""
    with open_client(ctx) as client:
        page = client.list_tokens(limit=limit, cursor=cursor)
    if as_json:
        echo_json(page)
        return
    console = Console()
    console.print(render.tokens_table(page.items))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("revoke")
@reports_errors
def tokens_revoke(ctx: typer.Context, name: TokenName, as_json: JsonFlag = False) -> None:
    """Revoke an API token: every server refuses it from the next request on."""
    with open_client(ctx) as client:
        client.revoke_token(name)
    if as_json:
        echo_json({"revoked": name})
    else:
        Console().print(f"revoked {name}")
