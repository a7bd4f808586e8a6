"""The database schema (SQLAlchemy Core); `migrations/` creates and upgrades it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

# JSON columns keep SQL NULL for Python None so "no metrics" and "{}" stay distinct.
JsonValue = JSON(none_as_null=True)

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

schedule_versions = Table(
    "schedule_versions",
    metadata,
    Column("name", String(128), ForeignKey("schedules.name", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("spec", Text, nullable=False),  # canonical JSON of the validated spec
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(253), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex, never the token
    Column("status", String(16), nullable=False),
    # No foreign key: a job keeps its spec text even after its schedule is deleted.
    Column("schedule_name", String(128), nullable=True),
    Column("schedule_version", Integer, nullable=True),
    Column("follow", String(16), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON of the spec in force
    Column("scale", Double, nullable=False),
    Column("override", Double, nullable=True),
    Column("paused", Boolean, nullable=False),
    Column("held_rate", Double, nullable=True),  # the rate a pause holds
    Column("labels", JsonValue, nullable=False),
    Column("clock_origin", Integer, nullable=False),
    Column("last_epoch", Integer, nullable=True),
    Column("learning_rate", Double, nullable=True),
    Column("state", JsonValue, nullable=True),  # engine state after last_epoch, for `spec`
    Column("revision", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Bumped by every write of the row: a decision computed from an older read must not land.
    Column("row_version", Integer, nullable=False, server_default="0"),
    # The actor that created the job: a creator token reaches the jobs it created.
    Column("created_by", String(300), nullable=True),
    # When the job last reported (a decision, an epoch's end, its status); null before that.
    Column("last_seen_at", DateTime(timezone=True), nullable=True),
    # Seconds between its last few consecutive epochs: what "stale" is measured against.
    Column("epoch_intervals", JsonValue, nullable=True),
    # The id of the API token that created it (its secret's sha256): what a creator token's
    # access is bound to, so a later token of the same name reaches none of its jobs.
    Column("creator_token", String(64), nullable=True),
    # The decay an operator started (`Cooldown.as_document`); null for none.
    Column("cooldown", JsonValue, nullable=True),
    # The epoch a change to the rate made since the last decision takes effect at; null for
    # none (`jobs.pending.pending_epoch`).
    Column("pending_epoch", Integer, nullable=True),
)
Index("ix_jobs_status", jobs.c.status)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(253), ForeignKey("jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("metrics", JsonValue, nullable=True),  # None: the caller did not know them
    # Observed at the end of this epoch: the next epoch's input, or the last epoch's report.
    Column("end_metrics", JsonValue, nullable=True),
    Column("steps_per_epoch", Integer, nullable=True),
    Column("learning_rate", Double, nullable=False),
    # Written before 0.2.0 only: per-step rates are now derived on read from the spec text
    # (`spec_texts`), `state_before`, `metrics`, `clock_origin` and this step rule, so a row's
    # size does not grow with steps_per_epoch.
    Column("step_learning_rates", JsonValue, nullable=True),
    Column("step_scale", Double, nullable=True),  # set when steps_per_epoch is
    Column("step_fixed", Double, nullable=True),  # every step's rate, when the operator fixed it
    # The started cooldown that gave the per-step rates (`Cooldown.as_document`), if any.
    Column("step_cooldown", JsonValue, nullable=True),
    Column("reason", Text, nullable=False),
    Column("stop", Boolean, nullable=False),
    Column("reductions", Integer, nullable=False, server_default="0"),  # plateau reductions made
    # The schedule's momentum (beta1) for the epoch's first step; null where none is scheduled.
    Column("momentum", Double, nullable=True),
    Column("schedule_name", String(128), nullable=True),
    Column("schedule_version", Integer, nullable=True),
    # sha256 of the spec in force: tells which spec `state_before` belongs to on a rewind.
    Column("spec_key", String(64), nullable=False),
    Column("clock_origin", Integer, nullable=False),  # with spec_key: whose state this is
    Column("state_before", JsonValue, nullable=True),
    Column("state_after", JsonValue, nullable=False),
    Column("gap", Integer, nullable=False),
    Column("rewound", Boolean, nullable=False),
    Column("superseded", Boolean, nullable=False, server_default=false()),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("seq", BigInteger, nullable=True),  # stream position; see stream/store.py
    # What the job's optimizer held at the end of this epoch (reported with the next request),
    # and whether that differs from the rate in force (decisions/drift.py); null: not reported.
    Column("applied_learning_rate", Double, nullable=True),
    Column("applied_momentum", Double, nullable=True),
    Column("drift", Boolean, nullable=True),
)
Index("ix_decisions_job_epoch", decisions.c.job_id, decisions.c.superseded, decisions.c.epoch)
Index("ix_decisions_seq", decisions.c.seq, decisions.c.id)

# Spec texts by `spec_key`, stored once each: what derived per-step rates are computed from
# (a decision outlives its job's spec changes and its schedule's deletion).
spec_texts = Table(
    "spec_texts",
    metadata,
    Column("spec_key", String(64), primary_key=True),
    Column("spec", Text, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(253), ForeignKey("jobs.job_id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", JsonValue, nullable=True),
    Column("after", JsonValue, nullable=False),
    Column("seq", BigInteger, nullable=True),  # stream position; see stream/store.py
    Column("change_id", String(36), nullable=True),  # the change (`changes`) it is part of
)
Index("ix_events_job_id", events.c.job_id, events.c.id)
Index("ix_events_seq", events.c.seq, events.c.id)

# One row per change of one job (PATCH) or many (bulk), written before the jobs change; no
# foreign key to jobs: the record outlives a deleted job.
changes = Table(
    "changes",
    metadata,
    Column("change_id", String(36), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("job_id", String(253), nullable=True),  # a single-job change
    Column("selector", Text, nullable=True),  # a bulk change
    Column("body", JsonValue, nullable=False),  # the PATCH body, fields as given
    Column("state", String(16), nullable=False),
    Column("matched", Integer, nullable=False),
    # The client's Idempotency-Key of a bulk change: a retry with it resumes this change.
    Column("idempotency_key", String(128), nullable=True),
)
Index("ux_changes_idempotency_key", changes.c.actor, changes.c.idempotency_key, unique=True)

# What a change did to each job, written in the transaction that changed it.
change_jobs = Table(
    "change_jobs",
    metadata,
    Column(
        "change_id",
        String(36),
        ForeignKey("changes.change_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("job_id", String(253), primary_key=True),
    Column("before", JsonValue, nullable=True),
    Column("after", JsonValue, nullable=True),
    Column("outcome", String(32), nullable=False),
    Column("detail", Text, nullable=True),
)

# API tokens (`/v1/tokens`); job tokens live on their job row. A revoked token's row is deleted.
tokens = Table(
    "tokens",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex, never the token
    Column("created_by", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)

# One row: the last stream position handed out. Its row lock serializes the sequencer.
stream_sequence = Table(
    "stream_sequence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# Webhook subscriptions (`/v1/webhooks`); `secret` is the signing secret encrypted with
# LRHUB_WEBHOOK_KEY (webhooks/secrets.py), never in clear.
webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JsonValue, nullable=False),
    Column("selector", Text, nullable=True),
    Column("secret", Text, nullable=False),
    Column("created_by", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),  # a 410 answer disables it
    Column("disabled_reason", Text, nullable=True),
)

# The outbox: one row per event and webhook, written in the transaction of the event; the
# deliverer claims due rows (`lease_until`, `FOR UPDATE SKIP LOCKED`), see webhooks/store.py.
webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False, unique=True),  # the `webhook-id` header
    Column(
        "webhook_id",
        String(40),
        ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the exact body every attempt signs and sends
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("claimed_by", String(64), nullable=True),
)
Index("ix_webhook_messages_due", webhook_messages.c.state, webhook_messages.c.next_attempt_at)
Index("ix_webhook_messages_webhook", webhook_messages.c.webhook_id, webhook_messages.c.id)

# The delivery log: every attempt of every message.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "message_id",
        String(40),
        ForeignKey("webhook_messages.message_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
)

# Which stale spells of which jobs a `job.stale` event was raised for: one per job and silence
# (`since`: its last report, or its creation), so each spell is announced once by one replica.
webhook_stale_notices = Table(
    "webhook_stale_notices",
    metadata,
    Column(
        "job_id",
        String(253),
        ForeignKey("jobs.job_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("since", DateTime(timezone=True), primary_key=True),
)

# A change tried on a canary cohort (`rollouts/`): its cohorts, baselines and what to restore
# are JSON of the row, written when it is created; the judge moves `state` under a row lock.
rollouts = Table(
    "rollouts",
    metadata,
    Column("rollout_id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(300), nullable=False),
    Column("selector", Text, nullable=False),
    Column("change", JsonValue, nullable=False),
    Column("canary_request", JsonValue, nullable=False),
    Column("seed", String(128), nullable=False),
    Column("analysis", JsonValue, nullable=False),
    Column("promote", String(16), nullable=False),
    Column("revert", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("change_id", String(36), nullable=False),
    Column("canary", JsonValue, nullable=False),
    Column("control", JsonValue, nullable=False),
    Column("baselines", JsonValue, nullable=False),
    Column("restore", JsonValue, nullable=False),
    Column("verdict", JsonValue, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("judged_by", String(300), nullable=True),
)
Index("ix_rollouts_state", rollouts.c.state, rollouts.c.rollout_id)

# Every state a rollout enters, for `/v1/stream` (`seq` as for decisions and events).
rollout_events = Table(
    "rollout_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "rollout_id",
        String(36),
        ForeignKey("rollouts.rollout_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(300), nullable=False),
    Column("state", String(16), nullable=False),
    Column("data", JsonValue, nullable=False),
    Column("seq", BigInteger, nullable=True),  # stream position; see stream/store.py
)
Index("ix_rollout_events_seq", rollout_events.c.seq, rollout_events.c.id)
