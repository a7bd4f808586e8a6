"""Use cases of webhooks: subscriptions (admin only), the outbox other services write events
to inside their own transactions (`record_event`), and the deliverer's claims and outcomes.

Delivery is at least once: an event's messages commit with the event or not at all, and a
message stays in the outbox until an attempt succeeds, its retries run out or its webhook is
disabled. Every attempt of one message carries the same `webhook-id`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from lrhub.service.auth.principal import Principal
from lrhub.service.clock import as_utc, iso_text, utc_now
from lrhub.service.errors import Conflict, InvalidChange, NotFound
from lrhub.service.fields import JobStatus
from lrhub.service.jobs import store as job_store
from lrhub.service.jobs.model import StoredJob
from lrhub.service.jobs.selectors import parse_selector
from lrhub.service.jobs.staleness import is_stale
from lrhub.service.storage.database import read_transaction, write_transaction
from lrhub.service.webhook_options import WebhookOptions
from lrhub.service.webhooks import signing
from lrhub.service.webhooks import store as webhook_store
from lrhub.service.webhooks.model import (
    Claim,
    MessageState,
    NewMessage,
    Outcome,
    StoredMessage,
    StoredWebhook,
    WebhookEvent,
)
from lrhub.service.webhooks.targets import TargetRefused, resolve

logger = logging.getLogger(__name__)

# The event a job's new status raises.
_STATUS_EVENTS = {
    JobStatus.COMPLETED: WebhookEvent.JOB_COMPLETED,
    JobStatus.FAILED: WebhookEvent.JOB_FAILED,
    JobStatus.STOPPED: WebhookEvent.JOB_STOPPED,
}


@dataclass(frozen=True)
class CreatedWebhook:
    """A new webhook and its signing secret, answered this once (stored encrypted)."""

    webhook: StoredWebhook
    secret: str


def create_webhook(
    engine: Engine,
    principal: Principal,
    options: WebhookOptions,
    url: str,
    events: list[WebhookEvent],
    selector: str | None,
) -> CreatedWebhook:
    """Subscribe `url` to `events` of the jobs `selector` selects (all jobs when None)."""
    principal.require_admin()
    if options.key is None:
        raise Conflict(
            "webhooks are off on this server: set LRHUB_WEBHOOK_KEY (at least 32 characters), "
            "which their signing secrets are encrypted with"
        )
    try:
        resolve(url, allow_private=options.allow_private)
    except TargetRefused as error:
        raise InvalidChange("url", str(error)) from error
    webhook_id = "wh_" + uuid.uuid4().hex
    secret = signing.new_secret()
    webhook = StoredWebhook(
        webhook_id=webhook_id,
        url=url,
        events=sorted({event.value for event in events}),
        selector=selector,
        secret=signing.seal(options.key, webhook_id, secret),
        created_by=principal.actor,
        created_at=utc_now(),
        disabled_at=None,
        disabled_reason=None,
    )
    with write_transaction(engine) as connection:
        webhook_store.insert_webhook(connection, webhook)
    return CreatedWebhook(webhook=webhook, secret=secret)


def list_webhooks(
    engine: Engine, principal: Principal, after: str | None, limit: int
) -> list[StoredWebhook]:
    """Webhooks by id after the id `after`."""
    principal.require_admin()
    with read_transaction(engine) as connection:
        return webhook_store.list_webhooks(connection, after=after, limit=limit)


def delete_webhook(engine: Engine, principal: Principal, webhook_id: str) -> None:
    """Remove the webhook, its undelivered messages and its delivery log."""
    principal.require_admin()
    with write_transaction(engine) as connection:
        if not webhook_store.delete_webhook(connection, webhook_id):
            raise NotFound(f"there is no webhook {webhook_id!r}")


def list_deliveries(
    engine: Engine, principal: Principal, webhook_id: str, after: int | None, limit: int
) -> list[StoredMessage]:
    """The webhook's messages, oldest first, each with its attempts."""
    principal.require_admin()
    with read_transaction(engine) as connection:
        if webhook_store.get_webhook(connection, webhook_id) is None:
            raise NotFound(f"there is no webhook {webhook_id!r}")
        return webhook_store.list_messages(connection, webhook_id, after_id=after, limit=limit)


def record_event(
    connection: Connection, event: WebhookEvent, job_id: str, data: Mapping[str, Any]
) -> None:
    """Write `event` of the job `job_id` to the outbox of every enabled webhook that subscribes
    to it and whose selector selects the job, in the caller's transaction (so it is delivered
    if and only if the event commits)."""
    _write_event(connection, event, [job_id], {"job_id": job_id, **data})


def record_fleet_event(
    connection: Connection, event: WebhookEvent, job_ids: Sequence[str], data: Mapping[str, Any]
) -> None:
    """Write `event`, about the jobs `job_ids` together (a rollout's cohorts), to the outbox of
    every enabled webhook that subscribes to it and whose selector selects any of those jobs,
    in the caller's transaction."""
    _write_event(connection, event, job_ids, data)


def _write_event(
    connection: Connection, event: WebhookEvent, job_ids: Sequence[str], data: Mapping[str, Any]
) -> None:
    subscribers = [
        webhook
        for webhook in webhook_store.enabled_webhooks(connection)
        if event.value in webhook.events
    ]
    if not subscribers:
        return
    now = utc_now()
    body = json.dumps(
        {"type": event.value, "timestamp": iso_text(now), "data": dict(data)},
        separators=(",", ":"),
    )
    messages = [
        NewMessage(
            message_id="msg_" + uuid.uuid4().hex,
            webhook_id=webhook.webhook_id,
            event_type=event.value,
            payload=body,
            created_at=now,
        )
        for webhook in subscribers
        if webhook.selector is None
        or any(
            webhook_store.job_matches(
                connection, job_id, job_store.selector_condition(parse_selector(webhook.selector))
            )
            for job_id in job_ids
        )
    ]
    if messages:
        webhook_store.insert_messages(connection, messages)


def record_job_change(
    connection: Connection,
    actor: str,
    before: StoredJob,
    after: StoredJob,
    change_id: str | None,
) -> None:
    """The events of a recorded change of one job: `change`, and the job's new status's."""
    data = {
        "actor": actor,
        "change_id": change_id,
        "labels": after.labels,
        "status": after.status.value,
        "before": job_store.audit_snapshot(before),
        "after": job_store.audit_snapshot(after),
    }
    record_event(connection, WebhookEvent.CHANGE, after.job_id, data)
    status_event = _STATUS_EVENTS.get(after.status)
    if status_event is not None and before.status != after.status:
        record_event(connection, status_event, after.job_id, data)


def raises_events(*, stop: bool, reductions: int) -> bool:
    """Whether storing a decision raises a webhook event (a stop or a plateau reduction)."""
    return stop or reductions > 0


def record_decision(connection: Connection, job: StoredJob, decision: Mapping[str, Any]) -> None:
    """The events of a decision of `job` just stored (its fields `epoch`, `learning_rate`,
    `reason`, `reductions`, `stop`, `metrics`): `decision.stop`, `plateau.reduced`."""
    data = {"labels": job.labels, **decision}
    if decision["stop"]:
        record_event(connection, WebhookEvent.DECISION_STOP, job.job_id, data)
    if decision["reductions"] > 0:
        record_event(connection, WebhookEvent.PLATEAU_REDUCED, job.job_id, data)


def record_drift(connection: Connection, job: StoredJob, drift: Mapping[str, Any]) -> None:
    """The `drift` event of `job`: what its optimizer applied during an epoch (`epoch`,
    `learning_rate` in force, `applied_learning_rate`, `momentum`, `applied_momentum`)."""
    record_event(connection, WebhookEvent.DRIFT, job.job_id, {"labels": job.labels, **drift})


# Running jobs read at a time while looking for stale ones.
_STALE_CANDIDATE_BATCH = 500


def announce_stale_jobs(engine: Engine, stale_after: timedelta) -> int:
    """Raise `job.stale` for each running job that is stale now (`is_stale`) and was not
    announced for this spell of silence; how many it raised. Reads nothing more when no
    webhook subscribes to it."""
    with read_transaction(engine) as connection:
        subscribed = any(
            WebhookEvent.JOB_STALE.value in webhook.events
            for webhook in webhook_store.enabled_webhooks(connection)
        )
    if not subscribed:
        return 0
    now = utc_now()
    raised = 0
    after: str | None = None
    while True:
        with read_transaction(engine) as connection:
            batch = job_store.list_running_jobs_silent_since(
                connection, now - stale_after, after=after, limit=_STALE_CANDIDATE_BATCH
            )
            noticed = webhook_store.stale_noticed(connection, [job.job_id for job in batch])
        for job in batch:
            since = as_utc(job.last_seen_at or job.created_at)
            if (job.job_id, since) in noticed or not is_stale(
                job, now=now, stale_after=stale_after
            ):
                continue
            with write_transaction(engine) as connection:
                if webhook_store.note_stale(connection, job.job_id, since):
                    data = {
                        "labels": job.labels,
                        "status": job.status.value,
                        "silent_since": iso_text(since),
                        "silent_seconds": round((now - since).total_seconds(), 3),
                    }
                    record_event(connection, WebhookEvent.JOB_STALE, job.job_id, data)
                    raised += 1
        if len(batch) < _STALE_CANDIDATE_BATCH:
            return raised
        after = batch[-1].job_id


def settle_and_claim(
    engine: Engine,
    options: WebhookOptions,
    claimed_by: str,
    outcomes: Sequence[Outcome],
    limit: int,
) -> list[Claim]:
    """Record `outcomes`, then claim up to `limit` messages due for an attempt for this process
    until its lease ends, in one write transaction: a deliverer takes the write lock once per
    round, not once per message (SQLite has one writer at a time, shared with the requests)."""
    now = utc_now()
    first_delay = options.retry_schedule[0]
    if not outcomes:
        if limit == 0:
            return []
        with read_transaction(engine) as connection:
            if not webhook_store.has_due(connection, now, first_delay):
                return []  # the common case, without taking a write lock
    with write_transaction(engine) as connection:
        for outcome in outcomes:
            _settle(connection, options, outcome, now)
        if limit == 0:
            return []
        return webhook_store.claim_due(
            connection,
            now=now,
            first_delay=first_delay,
            lease_until=now + options.lease,
            claimed_by=claimed_by,
            limit=limit,
        )


def _settle(
    connection: Connection, options: WebhookOptions, outcome: Outcome, now: datetime
) -> None:
    """Record how an attempt went: a 2xx delivers the message; 410 disables the webhook;
    anything else (or no answer) retries by the schedule until it runs out."""
    claim, status_code = outcome.claim, outcome.status_code
    next_attempt_at: datetime | None = None
    if status_code is not None and 200 <= status_code < 300:
        state = MessageState.DELIVERED
    elif status_code == 410:
        state = MessageState.FAILED
    elif claim.attempt < len(options.retry_schedule):
        state = MessageState.PENDING
        next_attempt_at = now + options.retry_schedule[claim.attempt]
    else:
        state = MessageState.FAILED
    if not webhook_store.finish_attempt(
        connection,
        claim,
        now=now,
        status_code=status_code,
        error=outcome.error,
        state=state,
        next_attempt_at=next_attempt_at,
    ):
        logger.warning(
            "webhook message %s: attempt %d outlived its lease; another claim has it",
            claim.message.message_id,
            claim.attempt,
        )
        return
    if status_code == 410:
        webhook_store.disable_webhook(
            connection,
            claim.message.webhook_id,
            at=now,
            reason=f"the receiver answered 410 Gone to message {claim.message.message_id}",
        )
