"""`lrhub watch`: the event stream (`GET /v1/stream`), followed across lost connections."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from .. import render
from ..errors import TransportError
from ._shared import JsonFlag, open_client, reports_errors


@reports_errors
def watch(
    ctx: typer.Context,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="Only jobs this selector matches.")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Only this job.")] = None,
    after: Annotated[
        int | None, typer.Option(help="Start after this event id (0: from the beginning).")
    ] = None,
    count: Annotated[int | None, typer.Option(help="Exit after this many events.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print every decision, change and status transition as it happens.

    Reconnects after a lost connection, resuming after the last event it printed, so nothing
    is missed or printed twice.
    """
    seen = 0
    position = after
    failures = 0
    scope = f"job {job}" if job else f"jobs matching {selector}" if selector else "every job"
    # On stderr, so the events on stdout stay one per line for scripts.
    typer.echo(f"waiting for events of {scope} (Ctrl-C to stop)", err=True)
    with open_client(ctx) as client:
        while True:
            try:
                for event in client.stream(selector=selector, job=job, after=position):
                    position = event.id
                    failures = 0
                    if as_json:
                        typer.echo(json.dumps(event.model_dump(mode="json")))
                    else:
                        typer.echo(render.stream_line(event))
                    seen += 1
                    if count is not None and seen >= count:
                        return
            except TransportError as error:
                if failures >= client.retry.max_retries:
                    raise
                typer.echo(f"connection lost ({error}); reconnecting", err=True)
            time.sleep(client.retry.backoff_delay(failures))
            failures += 1
