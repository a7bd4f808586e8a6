"""`/v1/webhooks`: subscriptions and their delivery log (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from lrhub.service.context import Caller, Context
from lrhub.service.http.paging import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    decode_cursor,
    decode_int_cursor,
    page_of,
)
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.webhooks import service as webhook_service
from lrhub.service.webhooks.schemas import (
    WEBHOOK_ID_PATTERN,
    Delivery,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)

router = v1_router("/v1/webhooks", "webhooks")

WebhookIdPath = Annotated[str, Path(pattern=WEBHOOK_ID_PATTERN)]


@router.post("", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, context: Context, caller: Caller) -> Response:
    """Subscribe a URL to events; the signing secret is in this answer only."""
    created = webhook_service.create_webhook(
        context.engine,
        caller,
        context.settings.webhook_options(),
        body.url,
        body.events,
        body.selector,
    )
    answer = WebhookCreated(**Webhook.of(created.webhook).model_dump(), secret=created.secret)
    return model_response(answer, status_code=201)


@router.get("", response_model=Page[Webhook])
def list_webhooks(
    context: Context, caller: Caller, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """Webhooks by id; never a secret."""
    after = decode_cursor(cursor, WEBHOOK_ID_PATTERN)
    webhooks = webhook_service.list_webhooks(context.engine, caller, after, limit)
    return model_response(page_of(webhooks, limit, lambda webhook: webhook.webhook_id, Webhook.of))


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: WebhookIdPath, context: Context, caller: Caller) -> Response:
    """Remove the webhook: its undelivered messages are dropped."""
    webhook_service.delete_webhook(context.engine, caller, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[Delivery])
def list_deliveries(
    webhook_id: WebhookIdPath,
    context: Context,
    caller: Caller,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The webhook's messages, oldest first, each with its attempts (status codes, times)."""
    after = decode_int_cursor(cursor)
    messages = webhook_service.list_deliveries(context.engine, caller, webhook_id, after, limit)
    return model_response(page_of(messages, limit, lambda message: message.id, Delivery.of))
