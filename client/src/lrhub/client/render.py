"""Human-readable output of the `lrhub` command: rich tables of schedules, jobs and history."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from .models import (
    AuditEvent,
    BulkChange,
    Change,
    HistoryEntry,
    Job,
    JobCooldown,
    JobSchedule,
    PreviewResult,
    Schedule,
    StreamEvent,
    Token,
)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _widest(texts: Iterable[str]) -> int:
    return max((len(text) for text in texts), default=0)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def job_schedule(schedule: JobSchedule) -> str:
    """`name@version (follow)`, or `inline spec`."""
    if schedule.name is None:
        return "inline spec"
    return f"{schedule.name}@{schedule.version} ({schedule.follow})"


def schedules_table(schedules: Sequence[Schedule], title: str) -> Table:
    """One row per schedule version."""
    table = Table(title=title)
    # Names are what people copy into the next command: never cut them.
    table.add_column("name", no_wrap=True, min_width=_widest(s.name for s in schedules))
    for column in ("version", "type", "created", "description"):
        table.add_column(column)
    for schedule in schedules:
        table.add_row(
            schedule.name,
            str(schedule.version),
            str(schedule.spec.get("type", "?")),
            _when(schedule.created_at),
            schedule.description,
        )
    return table


def print_schedule(console: Console, schedule: Schedule) -> None:
    """A schedule version with its full spec."""
    console.print(
        f"[bold]{schedule.name}[/bold] version {schedule.version}"
        f" of {schedule.versions or schedule.version}, created {_when(schedule.created_at)}"
    )
    if schedule.description:
        console.print(schedule.description)
    console.print_json(data=schedule.spec)


def job_status(job: Job) -> str:
    """The job's status, marked when it is running but has stopped reporting."""
    return f"{job.status} (stale)" if job.stale else job.status


def jobs_table(jobs: Sequence[Job]) -> Table:
    """One row per job."""
    table = Table(title="jobs")
    table.add_column("job", no_wrap=True, min_width=_widest(job.job_id for job in jobs))
    for column in ("status", "schedule", "rate", "last epoch", "labels"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job.job_id,
            job_status(job),
            job_schedule(job.schedule),
            _rate(job.learning_rate),
            "-" if job.last_epoch is None else str(job.last_epoch),
            ", ".join(f"{key}={value}" for key, value in sorted(job.labels.items())),
        )
    return table


def _cooldown(cooldown: JobCooldown | None) -> str:
    if cooldown is None:
        return "-"
    decay = (
        f"{cooldown.shape} over {cooldown.length} {cooldown.unit}s "
        f"to {cooldown.min_learning_rate:g}"
    )
    if cooldown.start is None:
        return f"{decay}, from the next decision"
    state = "finished" if cooldown.finished else "decaying"
    return f"{decay}, {state} (from {cooldown.start_rate:g} at {cooldown.unit} {cooldown.start})"


def print_job(console: Console, job: Job) -> None:
    """A job's settings and state."""
    table = Table(show_header=False, title=f"job {job.job_id}")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = {
        "status": f"{job.status} (stale: silent since {_when(job.last_seen_at or job.created_at)})"
        if job.stale
        else job.status,
        "schedule": job_schedule(job.schedule),
        "type": str(job.spec.get("type", "?")),
        "learning rate": _rate(job.learning_rate),
        "last epoch": "-" if job.last_epoch is None else str(job.last_epoch),
        "scale": f"{job.scale:g}",
        "override": _rate(job.override),
        "paused": "yes" if job.paused else "no",
        "cooldown": _cooldown(job.cooldown),
        "clock origin": str(job.clock_origin),
        "labels": _compact(job.labels),
        "state": _compact(job.state),
        "updated": _when(job.updated_at),
        "last seen": "never" if job.last_seen_at is None else _when(job.last_seen_at),
    }
    for field, value in rows.items():
        table.add_row(field, value)
    console.print(table)
    if job.token:
        console.print(f"job token (shown once): {job.token}")


def history_table(job_id: str, entries: Sequence[HistoryEntry]) -> Table:
    """One row per decided epoch, with a column per metric (its value at the epoch's end)."""
    table = Table(title=f"history of {job_id}")
    metrics = sorted({name for entry in entries for name in entry.metrics or {}})
    for column in ("epoch", "rate"):
        table.add_column(column, justify="right")
    for name in metrics:
        table.add_column(name, justify="right")
    for column in ("reason", "schedule", "stop", "superseded"):
        table.add_column(column)
    for entry in entries:
        schedule = entry.schedule
        values = entry.metrics or {}
        table.add_row(
            str(entry.epoch),
            _rate(entry.learning_rate),
            *(_rate(values.get(name)) for name in metrics),
            entry.reason,
            "inline" if schedule.name is None else f"{schedule.name}@{schedule.version}",
            "stop" if entry.stop else "",
            "superseded" if entry.superseded else "",
        )
    return table


def _changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The top-level fields of an audit snapshot that differ."""
    before, after = before or {}, after or {}
    return sorted(key for key in after if before.get(key) != after[key])


def _value(value: Any) -> str:
    """A field's value as a person reads it: rates short, a schedule as `name@version`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _rate(value)
    if isinstance(value, dict) and "name" in value and "version" in value:
        return "inline" if value["name"] is None else f"{value['name']}@{value['version']}"
    if isinstance(value, (dict, list)):
        return _compact(value)
    return str(value)


def moves(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Each changed field as `name: before → after` (a new record shows its values alone)."""
    if before is None:
        return [f"{name}: {_value(value)}" for name, value in sorted((after or {}).items())]
    return [
        f"{name}: {_value(before.get(name))} → {_value((after or {}).get(name))}"
        for name in _changed(before, after)
    ]


def events_table(job_id: str, events: Sequence[AuditEvent]) -> Table:
    """One row per audit event, each changed field before → after."""
    table = Table(title=f"events of {job_id}")
    for column in ("id", "at", "actor", "action", "before → after"):
        table.add_column(column)
    for event in events:
        table.add_row(
            str(event.id),
            _when(event.at),
            event.actor,
            event.action,
            # A created job's snapshot is its whole first state: only the change of an update.
            "\n".join(moves(event.before, event.after)) if event.before is not None else "",
        )
    return table


def tokens_table(tokens: Sequence[Token]) -> Table:
    """One row per API token: never a secret."""
    table = Table(title="tokens")
    table.add_column("name", no_wrap=True, min_width=_widest(t.name for t in tokens))
    for column in ("role", "created", "by", "expires", "last used"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            token.name,
            token.role,
            _when(token.created_at),
            token.created_by,
            _when(token.expires_at) if token.expires_at else "never",
            _when(token.last_used_at) if token.last_used_at else "-",
        )
    return table


def _would(outcome: str) -> str:
    """A dry run's outcome: what the change would do, never said as done."""
    return "would change" if outcome == "changed" else f"would be {outcome.replace('_', ' ')}"


def bulk_table(change: BulkChange) -> Table:
    """One row per job a bulk change matched: what happened (or, in a dry run, would) and each
    field before → after."""
    changed = sum(job.outcome == "changed" for job in change.jobs)
    if change.dry_run:
        title = f"dry run: {change.matched} matched, {changed} would change; nothing changed"
    else:
        title = f"{change.matched} matched, {changed} changed"
    if change.change_id:
        title += f" (change {change.change_id})"
    table = Table(title=title)
    table.add_column("job", no_wrap=True, min_width=_widest(job.job_id for job in change.jobs))
    for column in ("outcome", "before → after", "detail"):
        table.add_column(column)
    for job in change.jobs:
        outcome = _would(job.outcome) if change.dry_run else job.outcome
        table.add_row(
            job.job_id, outcome, "\n".join(moves(job.before, job.after)), job.detail or ""
        )
    return table


def change_table(change: Change) -> Table:
    """A change's record: one row per job, its outcome and each changed field before -> after."""
    target = f"job {change.job_id}" if change.job_id else f"selector {change.selector}"
    title = (
        f"change {change.change_id}: {change.actor}, {_when(change.at)}, {target}, "
        f"{change.state} ({change.matched} job(s))"
    )
    table = Table(title=title)
    table.add_column("job", no_wrap=True, min_width=_widest(job.job_id for job in change.jobs))
    for column in ("outcome", "before → after", "detail"):
        table.add_column(column)
    for job in change.jobs:
        table.add_row(
            job.job_id, job.outcome, "\n".join(moves(job.before, job.after)), job.detail or ""
        )
    return table


def stream_line(event: StreamEvent) -> str:
    """One line per stream event: id, kind, job and what happened."""
    data = event.data
    job = data.get("job_id", "?")
    if event.event == "decision":
        what = f"epoch {data.get('epoch')} rate {_rate(data.get('learning_rate'))}: "
        what += str(data.get("reason", ""))
    else:
        fields = ", ".join(_changed(data.get("before"), data.get("after")))
        what = f"{data.get('action')} by {data.get('actor')}" + (f": {fields}" if fields else "")
        if event.event == "status":
            before, after = data.get("before") or {}, data.get("after") or {}
            what = f"status {before.get('status')} -> {after.get('status')} by {data.get('actor')}"
    return f"{event.id} {event.event} {job} {what}"


def preview_summary(preview: PreviewResult) -> str:
    """First and last rate, and where the schedule would stop."""
    rates = preview.learning_rates
    summary = f"{len(rates)} epochs: {_rate(rates[0])} → {_rate(rates[-1])}" if rates else "empty"
    if preview.stop_epoch is not None:
        summary += f"; stops at epoch {preview.stop_epoch}"
    return summary
