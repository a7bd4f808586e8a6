"""The `lrhub` command: run the server, manage schedules, inspect and steer jobs.

Human output (rich tables) by default, `--json` for scripts. `--url` and `--token` default to
`LRHUB_URL` and `LRHUB_TOKEN`.

One module per resource: `schedules`, `jobs`, `tokens`, `changes`, `webhooks` and `rollouts` (a
sub-command each), `watch` (the event stream) and `serve` (the server). What every command
shares (the common options, the client built from `--url`/`--token` or the environment, error
reporting, paging, output) is in `_shared`. This module is the app itself and the console
script's entry point, `main`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import changes, jobs, rollouts, schedules, serve, tokens, watch, webhooks

app = typer.Typer(
    help="lrhub: learning-rate schedules and training jobs over HTTP.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(schedules.app, name="schedules")
app.add_typer(jobs.app, name="jobs")
app.add_typer(tokens.app, name="tokens")
app.add_typer(changes.app, name="changes")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(rollouts.app, name="rollouts")
app.command(context_settings=serve.CONTEXT_SETTINGS)(serve.serve)
app.command("watch")(watch.watch)


@app.callback()
def main_options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Service URL (default: LRHUB_URL).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (default: LRHUB_TOKEN).")] = None,
) -> None:
    """lrhub: learning-rate schedules and training jobs over HTTP."""
    ctx.obj = {"url": url, "token": token}


def main() -> None:
    """Entry point of the `lrhub` console script."""
    app()
