"""Request and response bodies of `/v1/webhooks`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, field_validator

from lrhub.service.clock import as_utc
from lrhub.service.fields import StoredText
from lrhub.service.http.schemas import RequestBody
from lrhub.service.jobs.selectors import SelectorError, parse_selector
from lrhub.service.webhooks.model import (
    MessageState,
    StoredAttempt,
    StoredMessage,
    StoredWebhook,
    WebhookEvent,
)

WEBHOOK_ID_PATTERN = r"^wh_[0-9a-f]{32}$"
MAX_URL_LENGTH = 2048


class WebhookCreate(RequestBody):
    """`POST /v1/webhooks`: where to deliver which events, of which jobs."""

    url: Annotated[StoredText, StringConstraints(min_length=1, max_length=MAX_URL_LENGTH)] = Field(
        description="An http(s) URL; private and loopback hosts need "
        "LRHUB_WEBHOOK_ALLOW_PRIVATE=true."
    )
    events: list[WebhookEvent] = Field(min_length=1, max_length=len(WebhookEvent))
    selector: StoredText | None = Field(
        default=None,
        description="Only events of the jobs this label selector selects; absent: every job.",
    )

    @field_validator("selector")
    @classmethod
    def _selector_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_selector(value)
            except SelectorError as error:
                raise ValueError(f"not a selector: {error}") from error
        return value


class Webhook(BaseModel):
    """A webhook as listed: never its secret."""

    webhook_id: str
    url: str
    events: list[str]
    selector: str | None
    created_by: str
    created_at: datetime
    disabled_at: datetime | None = Field(description="When a 410 answer disabled it.")
    disabled_reason: str | None

    @classmethod
    def of(cls, webhook: StoredWebhook) -> Webhook:
        """The answer for a stored webhook."""
        return cls(
            webhook_id=webhook.webhook_id,
            url=webhook.url,
            events=webhook.events,
            selector=webhook.selector,
            created_by=webhook.created_by,
            created_at=as_utc(webhook.created_at),
            disabled_at=as_utc(webhook.disabled_at) if webhook.disabled_at else None,
            disabled_reason=webhook.disabled_reason,
        )


class WebhookCreated(Webhook):
    """The 201 answer that created a webhook: its signing secret, shown this once."""

    secret: str = Field(description="`whsec_...`: what receivers verify signatures with.")


class DeliveryAttempt(BaseModel):
    """One attempt to deliver a message."""

    attempt: int
    started_at: datetime
    finished_at: datetime | None = Field(
        description="None: the server delivering it stopped before it knew the outcome."
    )
    status_code: int | None = Field(description="The receiver's answer; None: no answer.")
    error: str | None = Field(description="What went wrong, or the start of a non-2xx body.")

    @classmethod
    def of(cls, attempt: StoredAttempt) -> DeliveryAttempt:
        """The answer for a logged attempt."""
        return cls(
            attempt=attempt.attempt,
            started_at=as_utc(attempt.started_at),
            finished_at=as_utc(attempt.finished_at) if attempt.finished_at else None,
            status_code=attempt.status_code,
            error=attempt.error,
        )


class Delivery(BaseModel):
    """One event for one webhook: its `webhook-id`, where its delivery is, and its attempts."""

    message_id: str = Field(description="The `webhook-id` header of every attempt.")
    event_type: str
    created_at: datetime
    state: MessageState
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt's time.")
    attempts: list[DeliveryAttempt]

    @classmethod
    def of(cls, message: StoredMessage) -> Delivery:
        """The answer for a message of the outbox."""
        pending = message.state is MessageState.PENDING
        return cls(
            message_id=message.message_id,
            event_type=message.event_type,
            created_at=as_utc(message.created_at),
            state=message.state,
            next_attempt_at=as_utc(message.next_attempt_at) if pending else None,
            attempts=[DeliveryAttempt.of(attempt) for attempt in message.attempt_log],
        )
