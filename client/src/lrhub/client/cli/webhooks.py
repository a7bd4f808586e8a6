"""`lrhub webhooks`: signed push notifications of job events to a URL (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast, get_args

import typer
from rich.console import Console
from rich.table import Table

from ..models import Delivery, Webhook, WebhookEvent
from ._shared import Cursor, JsonFlag, Limit, echo_json, open_client, reports_errors

app = typer.Typer(help="Webhooks: job events pushed to a URL (admin).", no_args_is_help=True)

EVENTS = get_args(WebhookEvent)
WebhookId = Annotated[str, typer.Argument(help="The webhook's id (wh_...).")]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


@app.command("create")
@reports_errors
def webhooks_create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST the events (http or https).")],
    events: Annotated[
        list[str],
        typer.Option(
            "--event", "-e", help=f"An event type to send, repeatable: {', '.join(EVENTS)}."
        ),
    ],
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Only events of the jobs this selects."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a webhook and print its signing secret, which is shown this once."""
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: not an event type ({', '.join(EVENTS)})", param_hint="--event"
        )
    with open_client(ctx) as client:
        chosen = cast(list[WebhookEvent], events)  # checked against EVENTS above
        created = client.create_webhook(url, events=chosen, selector=selector)
    if as_json:
        echo_json(created)
        return
    console = Console()
    console.print(f"webhook {created.webhook_id}")
    console.print(f"signing secret (shown once): {created.secret}")


def _webhooks_table(webhooks: list[Webhook]) -> Table:
    table = Table(title="webhooks")
    for column in ("id", "url", "events", "selector", "created", "disabled"):
        table.add_column(column, no_wrap=column == "id")
    for webhook in webhooks:
        table.add_row(
            webhook.webhook_id,
            webhook.url,
            ", ".join(webhook.events),
            webhook.selector or "-",
            _when(webhook.created_at),
            webhook.disabled_reason or "-",
        )
    return table


@app.command("list")
@reports_errors
def webhooks_list(
    ctx: typer.Context, limit: Limit = None, cursor: Cursor = None, as_json: JsonFlag = False
) -> None:
    """List webhooks (never their secrets)."""
    with open_client(ctx) as client:
        page = client.list_webhooks(limit=limit, cursor=cursor)
    if as_json:
        echo_json(page)
        return
    console = Console()
    console.print(_webhooks_table(page.items))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")


@app.command("delete")
@reports_errors
def webhooks_delete(ctx: typer.Context, webhook_id: WebhookId, as_json: JsonFlag = False) -> None:
    """Delete a webhook; its undelivered events are dropped."""
    with open_client(ctx) as client:
        client.delete_webhook(webhook_id)
    if as_json:
        echo_json({"deleted": webhook_id})
    else:
        Console().print(f"deleted {webhook_id}")


def _deliveries_table(deliveries: list[Delivery]) -> Table:
    table = Table(title="deliveries")
    for column in ("webhook-id", "event", "created", "state", "attempts", "next"):
        table.add_column(column, no_wrap=column == "webhook-id")
    for delivery in deliveries:
        attempts = ", ".join(
            str(attempt.status_code or attempt.error or "no outcome")[:40]
            for attempt in delivery.attempts
        )
        table.add_row(
            delivery.message_id,
            delivery.event_type,
            _when(delivery.created_at),
            delivery.state,
            attempts or "-",
            _when(delivery.next_attempt_at),
        )
    return table


@app.command("deliveries")
@reports_errors
def webhooks_deliveries(
    ctx: typer.Context,
    webhook_id: WebhookId,
    limit: Limit = None,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """A webhook's events, oldest first: state and each attempt's status code or error."""
    with open_client(ctx) as client:
        page = client.webhook_deliveries(webhook_id, limit=limit, cursor=cursor)
    if as_json:
        echo_json(page)
        return
    console = Console()
    console.print(_deliveries_table(page.items))
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}")
