"""Storage of webhooks, their outbox and delivery log (SQLAlchemy Core).

Claiming: a process delivers a message only after claiming it, in a write transaction that
selects due messages `FOR UPDATE SKIP LOCKED` (PostgreSQL: replicas claiming at once each get
other rows, none waits) and sets `lease_until` and `claimed_by`; SQLite has one writer at a time,
so its claims are serialized anyway. A message whose lease ran out (its process died while
delivering) is due again. Finishing an attempt is fenced by `claimed_by` and the attempt
number, so a process whose lease expired cannot overwrite the outcome of a newer claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from lrhub.service.clock import as_utc
from lrhub.service.storage.tables import (
    jobs,
    webhook_attempts,
    webhook_messages,
    webhook_stale_notices,
    webhooks,
)
from lrhub.service.webhooks.model import (
    Claim,
    MessageState,
    NewMessage,
    StoredAttempt,
    StoredMessage,
    StoredWebhook,
)


def _webhook(row: Mapping[Any, Any]) -> StoredWebhook:
    return StoredWebhook(**row)


def insert_webhook(connection: Connection, webhook: StoredWebhook) -> None:
    """Store a new subscription."""
    connection.execute(insert(webhooks).values(**asdict(webhook)))


def get_webhook(connection: Connection, webhook_id: str) -> StoredWebhook | None:
    """The subscription `webhook_id`, if there is one."""
    row = connection.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id))
    found = row.mappings().first()
    return _webhook(found) if found else None


def list_webhooks(connection: Connection, *, after: str | None, limit: int) -> list[StoredWebhook]:
    """Subscriptions by id, after the id `after`."""
    query = select(webhooks)
    if after is not None:
        query = query.where(webhooks.c.webhook_id > after)
    rows = connection.execute(query.order_by(webhooks.c.webhook_id).limit(limit)).mappings()
    return [_webhook(row) for row in rows]


def delete_webhook(connection: Connection, webhook_id: str) -> bool:
    """Remove the subscription with its outbox and log (foreign keys cascade); False if there
    is none."""
    deleted = connection.execute(delete(webhooks).where(webhooks.c.webhook_id == webhook_id))
    return deleted.rowcount == 1


def enabled_webhooks(connection: Connection) -> list[StoredWebhook]:
    """Every subscription that has not been disabled."""
    rows = connection.execute(select(webhooks).where(webhooks.c.disabled_at.is_(None)))
    return [_webhook(row) for row in rows.mappings()]


def job_matches(connection: Connection, job_id: str, condition: ColumnElement[bool]) -> bool:
    """Whether the job `job_id` (as this transaction sees it) meets `condition`."""
    query = select(exists().where(jobs.c.job_id == job_id, condition))
    return bool(connection.execute(query).scalar_one())


def insert_messages(connection: Connection, messages: Sequence[NewMessage]) -> None:
    """Put messages in the outbox, due at once (see `due_condition` for the first delay)."""
    connection.execute(
        insert(webhook_messages),
        [
            {
                **asdict(message),
                "state": MessageState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": message.created_at,
            }
            for message in messages
        ],
    )


def _due(now: datetime, first_delay: timedelta) -> ColumnElement[bool]:
    """Pending messages whose next attempt is due and that nobody holds a live lease on; the
    first attempt waits `first_delay` after the event."""
    table = webhook_messages.c
    return and_(
        table.state == MessageState.PENDING.value,
        or_(
            and_(table.attempts == 0, table.next_attempt_at <= now - first_delay),
            and_(table.attempts > 0, table.next_attempt_at <= now),
        ),
        or_(table.lease_until.is_(None), table.lease_until <= now),
    )


def has_due(connection: Connection, now: datetime, first_delay: timedelta) -> bool:
    """Whether any message is due (a read: claiming takes a write lock)."""
    query = select(exists().where(_due(now, first_delay)))
    return bool(connection.execute(query).scalar_one())


def claim_due(
    connection: Connection,
    *,
    now: datetime,
    first_delay: timedelta,
    lease_until: datetime,
    claimed_by: str,
    limit: int,
) -> list[Claim]:
    """Claim up to `limit` due messages of enabled webhooks, oldest due first, for `claimed_by`
    until `lease_until`: each gets its next attempt number and a started attempt in the log."""
    rows = connection.execute(
        select(webhook_messages, webhooks.c.url, webhooks.c.secret)
        .join(webhooks, webhooks.c.webhook_id == webhook_messages.c.webhook_id)
        .where(_due(now, first_delay), webhooks.c.disabled_at.is_(None))
        .order_by(webhook_messages.c.next_attempt_at, webhook_messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=webhook_messages)
    ).mappings()
    claims = []
    for row in rows:
        fields = dict(row)
        url, secret = fields.pop("url"), fields.pop("secret")
        fields.pop("lease_until"), fields.pop("claimed_by")
        message = StoredMessage(**{**fields, "state": MessageState(fields["state"])})
        claims.append(Claim(message, message.attempts + 1, claimed_by, url, secret))
    for claim in claims:
        connection.execute(
            update(webhook_messages)
            .where(webhook_messages.c.id == claim.message.id)
            .values(attempts=claim.attempt, lease_until=lease_until, claimed_by=claimed_by)
        )
    if claims:
        connection.execute(
            insert(webhook_attempts),
            [
                {
                    "message_id": claim.message.message_id,
                    "attempt": claim.attempt,
                    "started_at": now,
                }
                for claim in claims
            ],
        )
    return claims


def finish_attempt(
    connection: Connection,
    claim: Claim,
    *,
    now: datetime,
    status_code: int | None,
    error: str | None,
    state: MessageState,
    next_attempt_at: datetime | None,
) -> bool:
    """Log the attempt's outcome and move its message to `state` (due again at
    `next_attempt_at` when still pending); False, the message untouched, when another claim
    took it since (this one's lease had run out)."""
    connection.execute(
        update(webhook_attempts)
        .where(
            webhook_attempts.c.message_id == claim.message.message_id,
            webhook_attempts.c.attempt == claim.attempt,
        )
        .values(finished_at=now, status_code=status_code, error=error)
    )
    values: dict[str, Any] = {"state": state.value, "lease_until": None, "claimed_by": None}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    moved = connection.execute(
        update(webhook_messages)
        .where(
            webhook_messages.c.id == claim.message.id,
            webhook_messages.c.claimed_by == claim.claimed_by,
            webhook_messages.c.attempts == claim.attempt,
        )
        .values(**values)
    )
    return moved.rowcount == 1


def disable_webhook(connection: Connection, webhook_id: str, *, at: datetime, reason: str) -> None:
    """Disable the subscription and give up its pending messages."""
    connection.execute(
        update(webhooks)
        .where(webhooks.c.webhook_id == webhook_id)
        .values(disabled_at=at, disabled_reason=reason)
    )
    connection.execute(
        update(webhook_messages)
        .where(
            webhook_messages.c.webhook_id == webhook_id,
            webhook_messages.c.state == MessageState.PENDING.value,
        )
        .values(state=MessageState.FAILED.value, lease_until=None, claimed_by=None)
    )


def list_messages(
    connection: Connection, webhook_id: str, *, after_id: int | None, limit: int
) -> list[StoredMessage]:
    """The webhook's messages, oldest first, after the id `after_id`, with their attempts."""
    query = select(webhook_messages).where(webhook_messages.c.webhook_id == webhook_id)
    if after_id is not None:
        query = query.where(webhook_messages.c.id > after_id)
    rows = connection.execute(query.order_by(webhook_messages.c.id).limit(limit)).mappings().all()
    attempts: dict[str, list[StoredAttempt]] = {}
    if rows:
        logged = connection.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.message_id.in_([row["message_id"] for row in rows]))
            .order_by(webhook_attempts.c.message_id, webhook_attempts.c.attempt)
        ).mappings()
        for attempt in logged:
            attempts.setdefault(attempt["message_id"], []).append(StoredAttempt(**attempt))
    messages = []
    for row in rows:
        fields = dict(row)
        fields.pop("lease_until"), fields.pop("claimed_by")
        messages.append(
            StoredMessage(
                **{**fields, "state": MessageState(fields["state"])},
                attempt_log=tuple(attempts.get(row["message_id"], ())),
            )
        )
    return messages


def stale_noticed(connection: Connection, job_ids: Sequence[str]) -> set[tuple[str, datetime]]:
    """The (job, silent since) spells of `job_ids` a `job.stale` event was raised for."""
    rows = connection.execute(
        select(webhook_stale_notices).where(webhook_stale_notices.c.job_id.in_(job_ids))
    )
    return {(job_id, as_utc(since)) for job_id, since in rows}


def note_stale(connection: Connection, job_id: str, since: datetime) -> bool:
    """Record that the job's spell of silence since `since` was announced; False when it was
    already (by this process or another: the primary key decides, whoever commits first)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    inserted = connection.execute(
        dialect.insert(webhook_stale_notices)
        .values(job_id=job_id, since=since)
        .on_conflict_do_nothing()
        .returning(webhook_stale_notices.c.job_id)
    )
    if inserted.first() is None:
        return False
    connection.execute(
        delete(webhook_stale_notices).where(
            webhook_stale_notices.c.job_id == job_id, webhook_stale_notices.c.since < since
        )
    )
    return True
