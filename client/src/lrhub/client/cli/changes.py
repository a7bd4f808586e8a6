"""`lrhub changes`: the record of a change of one job or many."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .. import render
from ._shared import Cursor, JsonFlag, Limit, echo_json, open_client, reports_errors

app = typer.Typer(help="Changes of jobs, each a record.", no_args_is_help=True)


@app.command("show")
@reports_errors
def changes_show(
    ctx: typer.Context,
    change_id: Annotated[str, typer.Argument(help="The change id (of a bulk answer or an event).")],
    limit: Limit = None,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """Who changed what and when, and each job's fields before -> after."""
    with open_client(ctx) as client:
        change = client.change(change_id, limit=limit, cursor=cursor)
    if as_json:
        echo_json(change)
        return
    console = Console()
    console.print(render.change_table(change))
    if change.next_cursor:
        console.print(f"more: --cursor {change.next_cursor}")
