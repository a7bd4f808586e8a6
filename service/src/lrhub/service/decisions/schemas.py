"""Request and response bodies of `/v1/jobs/{job_id}/epochs`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel, Field

from lrhub.service.clock import as_utc, iso_text
from lrhub.service.decisions.model import AppliedRates, NewDecision, SeriesPoint, StoredDecision
from lrhub.service.fields import EngineState, Metrics, Rate, StepsPerEpoch
from lrhub.service.http.paging import MAX_ID, encode_cursor
from lrhub.service.http.schemas import RequestBody


class Applied(RequestBody):
    """What the job's optimizer held at the end of an epoch (its last step's rate), read from
    the optimizer: compared with the rate in force for that epoch (drift)."""

    learning_rate: Rate
    momentum: Rate | None = Field(
        default=None, description="The momentum (beta1) held, where the schedule sets one."
    )

    def rates(self) -> AppliedRates:
        """The record of this report."""
        return AppliedRates(self.learning_rate, self.momentum)


class DecisionRequest(RequestBody):
    """`POST /v1/jobs/{job_id}/epochs/{epoch}`: metrics observed at the end of epoch-1."""

    metrics: Metrics | None = None
    steps_per_epoch: StepsPerEpoch | None = None
    applied: Applied | None = Field(
        default=None,
        description="What the optimizer applied during epoch-1, recorded on its decision when "
        "it is the job's last one.",
    )
    step_lists: bool = Field(
        default=False,
        description="With steps_per_epoch: also answer the epoch's k rates (and momentums) as "
        "the lists `step_learning_rates` and `step_momentums`, for clients from before `steps` "
        "existed. By default they are null and `steps` carries what they follow from.",
    )


class EpochEnd(RequestBody):
    """`PUT /v1/jobs/{job_id}/epochs/{epoch}/metrics`: the metrics observed at the end of epoch."""

    metrics: Metrics
    applied: Applied | None = Field(
        default=None, description="What the optimizer applied during this epoch."
    )


class ScheduleVersionRef(BaseModel):
    """The named schedule version a decision used (nulls for an inline spec)."""

    name: str | None
    version: int | None


class StepInputs(BaseModel):
    """What an epoch's per-step rates follow from: `lrhub.schedules.interval_steps(spec,
    state_before, epoch=epoch, metrics=metrics, steps_per_epoch=steps_per_epoch,
    clock_origin=clock_origin, rule=StepRule(scale, fixed, Cooldown.of_document(cooldown)))`
    gives them (and the momentums), bit for bit as the service would."""

    steps_per_epoch: int
    spec: dict[str, Any] = Field(description="The spec the epoch was decided with.")
    state_before: dict[str, Any] | None = Field(
        description="The engine's state before the epoch (null: a fresh start)."
    )
    metrics: dict[str, float] | None = Field(
        description="The metrics the epoch was decided from (observed at the end of the one "
        "before)."
    )
    clock_origin: int = Field(description="The effective clock origin the epoch was decided at.")
    scale: float = Field(description="The operator's scale applied to every step's rate.")
    fixed: float | None = Field(
        description="The rate every step is fixed to (override, or the rate held while "
        "paused); null when the schedule's rates x scale apply."
    )
    cooldown: dict[str, Any] | None = Field(
        default=None,
        description="The started cooldown that replaced the schedule's rates "
        "(`Cooldown.as_document`); null when none did.",
    )

    @classmethod
    def of(cls, record: NewDecision, spec_text: str | None) -> StepInputs | None:
        """The inputs of a decision made with steps_per_epoch; None for any other, or when its
        spec is no longer kept."""
        if record.steps_per_epoch is None or record.step_scale is None or spec_text is None:
            return None
        return cls(
            steps_per_epoch=record.steps_per_epoch,
            spec=json.loads(spec_text),
            state_before=record.state_before,
            metrics=record.metrics,
            clock_origin=record.clock_origin,
            scale=record.step_scale,
            fixed=record.step_fixed,
            cooldown=record.step_cooldown,
        )


class EpochAnswer(BaseModel):
    """The rate for one epoch of a job: the schedule's decision after the operator's settings."""

    job_id: str
    epoch: int
    learning_rate: float
    step_learning_rates: list[float] | None = Field(
        description="The epoch's per-step rates, only when asked with step_lists (else null: "
        "`steps` gives them)."
    )
    momentum: float | None = Field(
        description="The momentum (SGD, RMSprop) or beta1 (Adam family) the schedule sets for "
        "the epoch (its first step's); null when it schedules none."
    )
    step_momentums: list[float] | None = Field(
        description="The epoch's per-step momentums, with step_lists and a momentum."
    )
    steps: StepInputs | None = Field(
        default=None,
        description="With steps_per_epoch: what the epoch's per-step rates and momentums follow "
        "from, for `lrhub.schedules.interval_steps` on the client.",
    )
    reason: str
    stop: bool
    schedule: ScheduleVersionRef
    replayed: bool
    rewound: bool
    gap: int
    state: EngineState
    decided_at: datetime

    @classmethod
    def of(
        cls,
        record: NewDecision,
        *,
        replayed: bool,
        spec_text: str | None,
        step_lists: bool,
    ) -> EpochAnswer:
        """The answer for a decision, stored now (`replayed` false) or before: with the inputs
        of its step rates (`spec_text` is its spec), and the k-element lists only when
        `step_lists` (or when they cannot be derived)."""
        steps = StepInputs.of(record, spec_text)
        # A decision stored with its lists (before 0.2.0) has no inputs to derive them from.
        lists = step_lists or steps is None
        return cls(
            job_id=record.job_id,
            epoch=record.epoch,
            learning_rate=record.learning_rate,
            step_learning_rates=record.step_learning_rates if lists else None,
            momentum=record.momentum,
            step_momentums=record.step_momentums if lists else None,
            steps=steps,
            reason=record.reason,
            stop=record.stop,
            schedule=ScheduleVersionRef(name=record.schedule_name, version=record.schedule_version),
            replayed=replayed,
            rewound=record.rewound,
            gap=record.gap,
            state=record.state_after,
            decided_at=as_utc(record.decided_at),
        )


class HistoryEntry(BaseModel):
    """One stored decision of a job: the rate of its epoch and what that epoch observed."""

    epoch: int
    learning_rate: float = Field(description="The rate used during this epoch (its first step's).")
    step_learning_rates: list[float] | None
    momentum: float | None = Field(
        description="The momentum (beta1) the schedule set for this epoch (its first step's)."
    )
    step_momentums: list[float] | None
    reason: str
    stop: bool
    reductions: int = Field(
        description="How many plateau reductions this decision made (0 or 1 per plateau rule)."
    )
    metrics: dict[str, float] | None = Field(
        description="Observed at the end of this epoch; null until the job reports them."
    )
    input_metrics: dict[str, float] | None = Field(
        description="What the decision was made from: the metrics observed at the end of the "
        "epoch before (`{}` for epoch 0, null when the caller did not know them)."
    )
    schedule: ScheduleVersionRef
    superseded: bool
    decided_at: datetime
    applied_learning_rate: float | None = Field(
        default=None,
        description="What the job's optimizer held at the end of this epoch, as its adapter "
        "reported; null until reported.",
    )
    applied_momentum: float | None = Field(
        default=None, description="Likewise its momentum (beta1), where reported."
    )
    drift: bool | None = Field(
        default=None,
        description="Whether the applied rate (or momentum) differs from the one in force for "
        "this epoch (its last step's) beyond float32 rounding; null until reported.",
    )

    @classmethod
    def of(cls, decision: StoredDecision) -> HistoryEntry:
        """One stored decision as the history shows it."""
        return cls(
            epoch=decision.epoch,
            learning_rate=decision.learning_rate,
            step_learning_rates=decision.step_learning_rates,
            momentum=decision.momentum,
            step_momentums=decision.step_momentums,
            reason=decision.reason,
            stop=decision.stop,
            reductions=decision.reductions,
            metrics=decision.end_metrics,
            input_metrics=decision.metrics,
            schedule=ScheduleVersionRef(
                name=decision.schedule_name, version=decision.schedule_version
            ),
            superseded=decision.superseded,
            decided_at=as_utc(decision.decided_at),
            applied_learning_rate=decision.applied_learning_rate,
            applied_momentum=decision.applied_momentum,
            drift=decision.drift,
        )


class Series(BaseModel):
    """A job's rate curve as columns: entry i of every list belongs to epoch `epochs[i]` and its
    decision in force (superseded decisions left out), oldest first. Pass `next_cursor` back as
    `?cursor=` for the epochs after these."""

    epochs: list[int]
    learning_rates: list[float] = Field(description="The rate used during each epoch.")
    reasons: list[str]
    reductions: list[int] = Field(description="The plateau reductions each epoch's decision made.")
    decided_at: list[datetime]
    metrics: list[dict[str, float] | None] = Field(
        description="The metrics observed at the end of each epoch; null until it reports them."
    )
    applied_learning_rates: list[float | None] = Field(
        default_factory=list,
        description="What each epoch's optimizer held at its end; null until reported.",
    )
    drift: list[bool | None] = Field(
        default_factory=list,
        description="Whether each epoch's applied rate differs from its rate in force.",
    )
    next_cursor: str | None


_SERIES_COLUMNS = (
    "epochs", "learning_rates", "reasons", "reductions", "decided_at", "metrics",
    "applied_learning_rates", "drift",
)  # fmt: skip
SERIES_FIELDS = _SERIES_COLUMNS[1:]
"""The columns a request for several jobs' series may choose (`?fields=`); `epochs` comes
always."""
# The body without items, and room for the quoted cursor of the largest epoch.
_SERIES_OVERHEAD_BYTES = (
    sum(len(f'"{name}":[],') for name in _SERIES_COLUMNS)
    + len('{"next_cursor":}')
    + len(encode_cursor(MAX_ID))
    + 2
)


def _nullable(text: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: "null" if value is None else text(value)


# The JSON text of an entry of each column besides `epochs`, from the value stored, in
# SERIES_FIELDS' order: the stored metrics' JSON passes through undecoded (it was validated
# when it was stored).
_FIELD_TEXTS: dict[str, Callable[[Any], str]] = {
    "learning_rates": repr,
    "reasons": encode_basestring_ascii,
    "reductions": str,
    "decided_at": lambda moment: '"' + iso_text(moment) + '"',
    "metrics": lambda text: text or "null",
    "applied_learning_rates": _nullable(repr),
    "drift": _nullable(lambda drifted: str(drifted).lower()),
}
_TEXTS = tuple(_FIELD_TEXTS[name] for name in SERIES_FIELDS)
# Epochs of a job's series turned into text at a time: column by column is about twice as fast
# as epoch by epoch, and a page stopping early at its byte bound reads little past it.
_SERIES_CHUNK = 1000


def _columns_json(names: Iterable[str], columns: Iterable[list[str]]) -> str:
    """`"name":[...]` for each column, comma-separated."""
    named = zip(names, columns, strict=True)
    return ",".join(f'"{name}":[{",".join(column)}]' for name, column in named)


def _columns_within(
    rows: Sequence[Sequence[Any]],
    start: int,
    texts: Sequence[Callable[[Any], str]],
    room: int,
    *,
    take_first: bool,
) -> tuple[list[list[str]], int]:
    """The JSON text columns of `rows`, whose item `start` is the epoch and the next ones the
    values `texts` write, in order; cut before the row that would take them past `room` bytes
    (each piece with the comma after it), the first row taken whatever its size when
    `take_first`. Answers the columns and the bytes they take."""
    columns = [[str(row[start]) for row in rows]] + [
        [text(row[index]) for row in rows] for index, text in enumerate(texts, start=start + 1)
    ]
    used = sum(sum(map(len, column)) for column in columns) + len(rows) * len(columns)
    if used <= room:
        return columns, used
    count = used = 0
    while count < len(rows):
        cost = sum(len(column[count]) + 1 for column in columns)
        if (count or not take_first) and used + cost > room:
            break
        used += cost
        count += 1
    return [column[:count] for column in columns], used


def _series_row(point: SeriesPoint) -> tuple[Any, ...]:
    """`point`'s values in _SERIES_COLUMNS' order."""
    return (
        point.epoch, point.learning_rate, point.reason, point.reductions, point.decided_at,
        point.end_metrics_json, point.applied_learning_rate, point.drift,
    )  # fmt: skip


def series_json(points: Iterable[SeriesPoint], limit: int, max_bytes: int) -> bytes:
    """The JSON body of the `Series` of `points` (at most `limit`), stopping before the epoch
    that would take it past `max_bytes`; the first epoch is shown whatever its size. It has a
    next cursor when it is full or stopped early.

    Written from text pieces whose lengths are the body's.
    """
    columns: list[list[str]] = [[] for _ in _SERIES_COLUMNS]
    size = _SERIES_OVERHEAD_BYTES
    stream = iter(points)
    shown = 0
    last: int | None = None
    stopped = False
    while shown < limit:
        chunk = [_series_row(point) for point in islice(stream, min(limit - shown, _SERIES_CHUNK))]
        if not chunk:
            break
        part, used = _columns_within(chunk, 0, _TEXTS, max_bytes - size, take_first=shown == 0)
        size += used
        for column, pieces in zip(columns, part, strict=True):
            column.extend(pieces)
        taken = len(part[0])
        shown += taken
        if taken:
            last = chunk[taken - 1][0]
        if taken < len(chunk):
            stopped = True
            break
    more = stopped or shown == limit
    cursor = json.dumps(encode_cursor(last) if last is not None and more else None)
    body = _columns_json(_SERIES_COLUMNS, columns)
    return ("{" + body + ',"next_cursor":' + cursor + "}").encode()


class JobSeries(BaseModel):
    """One job's rate curve among several (`SeriesOfJobs`): the columns of `Series` that were
    asked for (`?fields=`; all when not), entry i of each belonging to epoch `epochs[i]`."""

    job_id: str
    epochs: list[int]
    learning_rates: list[float] | None = None
    reasons: list[str] | None = None
    reductions: list[int] | None = None
    decided_at: list[datetime] | None = None
    metrics: list[dict[str, float] | None] | None = None
    applied_learning_rates: list[float | None] | None = None
    drift: list[bool | None] | None = None


class SeriesOfJobs(BaseModel):
    """Several jobs' rate curves, by job id, each job's epochs oldest first. A page holds every
    job asked for unless it is full: pass `next_cursor` back as `?cursor=` (with the same
    `jobs`) for the rest, where the job a page stopped in goes on with its next epochs (append
    them to its columns)."""

    items: list[JobSeries]
    next_cursor: str | None


# `{"items":[],"next_cursor":}`, room for a cursor of the longest job id and largest epoch.
_JOBS_OVERHEAD_BYTES = (
    len('{"items":[],"next_cursor":}') + 2 + len(encode_cursor("j" * 253 + " " + str(MAX_ID)))
)


def series_cursor(job_id: str, epoch: int) -> str:
    """The cursor of a page of several jobs' series that ends at `epoch` of `job_id` (-1: none
    of its epochs shown)."""
    return encode_cursor(f"{job_id} {epoch}")


def series_of_jobs_json(
    job_ids: Iterable[str],
    after: tuple[str, int] | None,
    rows: Iterable[Sequence[Any]],
    *,
    fields: Sequence[str],
    limit: int,
    max_bytes: int,
) -> bytes:
    """The JSON body of the `SeriesOfJobs` page of `job_ids` after the position `after`, from
    `rows` (job id, epoch, then the value of each of `fields`, by job id then epoch, as
    `series_of_jobs` answers them): at most `limit` epochs, stopping before the job or the epoch
    that would take it past `max_bytes` (the first is shown whatever its size, so every page
    moves on). A job with no epochs is shown with empty columns; the job of `after` is shown
    only if it has epochs left.
    """
    names = ["epochs", *fields]
    texts = [_FIELD_TEXTS[name] for name in fields]
    # One item's text besides its entries: `{"job_id":...,` then each column's `"name":[]`.
    column_overhead = sum(len(f'"{name}":[],') for name in names) + len('{"job_id":}')
    stream = iter(rows)
    upcoming = next(stream, None)
    items: list[str] = []
    size = _JOBS_OVERHEAD_BYTES
    shown = 0
    position = after
    stopped = False
    for job_id in sorted(set(job_ids)):
        if after is not None and job_id < after[0]:
            continue
        if shown == limit:
            stopped = True
            break
        if after is not None and job_id == after[0] and (upcoming is None or upcoming[0] != job_id):
            continue  # the page before showed all of it
        head = "{" + '"job_id":' + encode_basestring_ascii(job_id) + ","
        cost = column_overhead + len(head) + 1
        if (items or shown) and size + cost > max_bytes:
            stopped = True
            break
        size += cost
        if position is None or position[0] != job_id:
            position = (job_id, -1)
        taken: list[Sequence[Any]] = []
        while upcoming is not None and upcoming[0] == job_id and shown + len(taken) < limit:
            taken.append(upcoming)
            upcoming = next(stream, None)
        columns, used = _columns_within(
            taken, 1, texts, max_bytes - size, take_first=not (items or shown)
        )
        size += used
        count = len(columns[0])
        stopped = count < len(taken)
        shown += count
        if count:
            position = (job_id, taken[count - 1][1])
        items.append(head + _columns_json(names, columns) + "}")
        if stopped or (upcoming is not None and upcoming[0] == job_id):
            stopped = True  # at the byte bound, or at `limit` within this job
            break
    # A full page may have ended where the points read did: the next page says whether more come.
    more = stopped or shown == limit
    cursor = json.dumps(series_cursor(*position) if more and position is not None else None)
    return ('{"items":[' + ",".join(items) + '],"next_cursor":' + cursor + "}").encode()
