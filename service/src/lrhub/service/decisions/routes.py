"""`/v1/jobs/{job_id}/epochs`: the decision and the history; `/v1/series`: several jobs' curves."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import Body, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from lrhub.service.auth.principal import Principal
from lrhub.service.clock import iso_text
from lrhub.service.context import AppContext, Caller, Context
from lrhub.service.decisions import service as decision_service
from lrhub.service.decisions.cache import JobRowCache
from lrhub.service.decisions.model import DecisionKind, StoredDecision
from lrhub.service.decisions.schemas import (
    SERIES_FIELDS,
    DecisionRequest,
    EpochAnswer,
    EpochEnd,
    HistoryEntry,
    Series,
    SeriesOfJobs,
    series_json,
    series_of_jobs_json,
)
from lrhub.service.errors import InvalidRequest
from lrhub.service.fields import JOB_ID_PATTERN, MAX_EPOCH
from lrhub.service.http.paging import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    byte_bounded_page_json,
    decode_cursor,
    decode_int_cursor,
)
from lrhub.service.http.problems import fields_in
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.http.strict_json import accepts_undeclared_query
from lrhub.service.jobs.routes import JobId

router = v1_router("/v1/jobs", "decisions")
series_router = v1_router("/v1/series", "decisions")


CSV_COLUMNS = (
    "epoch", "learning_rate", "reason", "stop", "schedule", "version", "superseded", "decided_at",
    "applied_learning_rate", "drift",
)  # fmt: skip
# A column per metric follows, named as the metric (its value at the epoch's end), then one per
# metric the decision was made from, named `input.<metric>`.
INPUT_PREFIX = "input."


@router.post("/{job_id}/epochs/{epoch}", response_model=EpochAnswer)
async def decide_epoch(
    job_id: JobId,
    epoch: Annotated[int, Path(ge=0, le=MAX_EPOCH)],
    context: Context,
    caller: Caller,
    request: Request,
    body: Annotated[DecisionRequest, Body(default_factory=DecisionRequest)],
) -> Response:
    """The learning rate of `epoch`, given the metrics observed at the end of epoch-1."""
    # The decision path's cache of job rows, one per app (`create_app` makes it), read here
    # rather than through a dependency: each dependency costs the hot path its resolution.
    job_rows: JobRowCache = request.app.state.job_rows
    # In the thread pool, the answer's serialization included (k step rates can make it
    # megabytes): the event loop keeps serving other requests (health checks included) while
    # this one computes, waits for the database or writes its JSON.
    return await run_in_threadpool(
        _decide_and_answer, context, job_rows, caller, job_id, epoch, body
    )


def _decide_and_answer(
    context: AppContext,
    job_rows: JobRowCache,
    caller: Principal,
    job_id: str,
    epoch: int,
    body: DecisionRequest,
) -> Response:
    decided = decision_service.decide_epoch(
        context.engine,
        job_rows,
        context.limits,
        context.evaluator,
        caller,
        job_id,
        epoch,
        body.metrics,
        body.steps_per_epoch,
        body.applied.rates() if body.applied is not None else None,
    )
    context.metrics.record_decision(decided.kind, decided.reductions_made)
    context.metrics.record_applied(decided.applied.drift if decided.applied else None)
    replayed = decided.kind is DecisionKind.REPLAYED
    answer = EpochAnswer.of(
        decided.record, replayed=replayed, spec_text=decided.spec, step_lists=body.step_lists
    )
    return model_response(answer)


@router.put("/{job_id}/epochs/{epoch}/metrics", response_model=HistoryEntry)
def report_epoch_end(
    job_id: JobId,
    epoch: Annotated[int, Path(ge=0, le=MAX_EPOCH)],
    body: EpochEnd,
    context: Context,
    caller: Caller,
) -> Response:
    """Record the metrics observed at the end of `epoch`, as the last epoch of a fit does (the
    other epochs' reach the service with the next epoch's decision)."""
    decision, report = decision_service.record_epoch_end(
        context.engine,
        caller,
        job_id,
        epoch,
        body.metrics,
        body.applied.rates() if body.applied is not None else None,
        context.evaluator,
    )
    context.metrics.record_applied(report.drift if report is not None else None)
    return model_response(HistoryEntry.of(decision))


# Rows read per database round trip while a CSV history's metric names are collected: a wide
# row (hundreds of metrics) costs tens of KB as Python objects, so a page stays small.
CSV_NAME_PAGE_ROWS = 100
# The most rows, and about the most CSV bytes, one page of the written CSV may take: what one
# download holds while its reader is slow, besides the socket's own buffer.
CSV_PAGE_ROWS = 1000
CSV_PAGE_BYTES = 1 << 20
# Bytes handed to the socket at a time: the server writes the next piece only once the socket
# took the last one, so a reader that stops reading stops the download there.
CSV_CHUNK_BYTES = 64 * 1024
# A generous size of a CSV row's fixed columns, and of one metric cell (a float's repr is at
# most 24 characters, plus its comma).
_CSV_FIXED_BYTES = 512
_CSV_CELL_BYTES = 25


def csv_metric_columns(metric_names: Iterable[str], input_names: Iterable[str]) -> list[str]:
    """The CSV's metric columns: each metric once, sorted; a metric named like a fixed column
    (or like an input column) gets the `metric.` prefix, so every header is distinct."""
    inputs = [INPUT_PREFIX + name for name in sorted(set(input_names))]
    taken = set(CSV_COLUMNS) | set(inputs)
    named = [name if name not in taken else f"metric.{name}" for name in sorted(set(metric_names))]
    return named + inputs


def _csv_pieces(decisions: Iterable[StoredDecision], metric_columns: dict[str, int]) -> list[str]:
    """Rows of the CSV, in pieces of about CSV_CHUNK_BYTES; `metric_columns` maps each metric
    name to its column's position in the metric part, and `input.<name>` likewise for the input
    metrics."""
    pieces: list[str] = []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for decision in decisions:
        entry = HistoryEntry.of(decision)
        values = [""] * len(metric_columns)
        for name, value in (entry.metrics or {}).items():
            if name in metric_columns:
                values[metric_columns[name]] = repr(value)
        for name, value in (entry.input_metrics or {}).items():
            key = INPUT_PREFIX + name
            if key in metric_columns:
                values[metric_columns[key]] = repr(value)
        writer.writerow(
            [
                entry.epoch,
                repr(entry.learning_rate),
                entry.reason,
                str(entry.stop).lower(),
                entry.schedule.name or "",
                entry.schedule.version if entry.schedule.version is not None else "",
                str(entry.superseded).lower(),
                iso_text(entry.decided_at),
                "" if entry.applied_learning_rate is None else repr(entry.applied_learning_rate),
                "" if entry.drift is None else str(entry.drift).lower(),
                *values,
            ]
        )
        if out.tell() >= CSV_CHUNK_BYTES:
            pieces.append(out.getvalue())
            out.seek(0)
            out.truncate()
    if out.tell():
        pieces.append(out.getvalue())
    return pieces


def _history_csv(context: Context, caller: Principal, job_id: str, superseded: bool) -> Response:
    """The whole history as CSV, streamed a page of rows at a time, each page its own read (the
    server never holds the whole history; rows are in id order, so pages neither skip nor repeat
    one). A first pass over the pages collects the metric names (the header names a column per
    metric) before the answer starts, so a missing job is still a 404; a second writes the rows.

    What one download holds is bounded whatever its reader does: a page of the second pass is
    turned into CSV text before it is sent (its decisions are dropped), takes at most
    CSV_PAGE_BYTES by the header's width, and goes to the socket in CSV_CHUNK_BYTES pieces, each
    only once the socket took the one before.
    """

    def page(after: int | None, rows: int) -> list[StoredDecision]:
        return list(
            decision_service.job_history(
                context.engine,
                caller,
                job_id,
                include_superseded=superseded,
                after=after,
                limit=rows,
                with_step_rates=False,
            )
        )

    metric_names: set[str] = set()
    input_names: set[str] = set()
    after: int | None = None
    while rows := page(after, CSV_NAME_PAGE_ROWS):
        for decision in rows:
            entry = HistoryEntry.of(decision)
            metric_names.update(entry.metrics or {})
            input_names.update(entry.input_metrics or {})
        if len(rows) < CSV_NAME_PAGE_ROWS:
            break
        after = rows[-1].id
    del rows
    header = csv_metric_columns(metric_names, input_names)
    # Metric name (or `input.<name>`) -> its position among the metric columns. A metric first
    # reported between the two passes has no column: the next download shows it.
    positions = {
        name: i
        for i, name in enumerate(
            sorted(metric_names) + [INPUT_PREFIX + n for n in sorted(input_names)]
        )
    }
    row_bytes = _CSV_FIXED_BYTES + _CSV_CELL_BYTES * len(header)
    page_rows = max(1, min(CSV_PAGE_ROWS, CSV_PAGE_BYTES // row_bytes))

    def chunks() -> Iterator[str]:
        yield ",".join(CSV_COLUMNS + tuple(_quoted(name) for name in header)) + "\n"
        after: int | None = None
        while True:
            rows = page(after, page_rows)
            if not rows:
                return
            after, last = rows[-1].id, len(rows) < page_rows
            pieces = _csv_pieces(rows, positions)
            del rows  # a slow reader holds this page's text, not its decisions
            while pieces:
                yield pieces.pop(0)
            if last:
                return

    return StreamingResponse(chunks(), media_type="text/csv")


def _quoted(name: str) -> str:
    """A header cell as the csv module writes it (a metric name may hold a comma or a quote)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([name])
    return out.getvalue()


@router.get("/{job_id}/epochs", response_model=Page[HistoryEntry])
@accepts_undeclared_query("format")
def job_history(
    request: Request,
    job_id: JobId,
    context: Context,
    caller: Caller,
    superseded: bool = True,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The job's decisions, oldest first, a page at a time (every row as CSV: `epochs.csv`)."""
    # 0.1.0 clients ask `?format=csv` here: still answered, but not declared, so that this
    # operation has one answer type and generated clients can read it.
    answer_format = request.query_params.get("format", "json")
    if answer_format == "csv":
        return _history_csv(context, caller, job_id, superseded)
    if answer_format != "json":
        raise InvalidRequest.at("query.format", "the history is JSON here; CSV is epochs.csv")
    decisions = decision_service.job_history(
        context.engine,
        caller,
        job_id,
        include_superseded=superseded,
        after=decode_int_cursor(cursor),
        limit=limit,
    )
    body = byte_bounded_page_json(
        decisions, limit, lambda d: d.id, HistoryEntry.of, context.limits.max_page_bytes
    )
    return Response(body, media_type="application/json")


@router.get(
    "/{job_id}/epochs.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def job_history_csv(
    job_id: JobId, context: Context, caller: Caller, superseded: bool = True
) -> Response:
    """The job's whole history, oldest first, as one CSV (columns as in docs/http-api.md),
    streamed."""
    return _history_csv(context, caller, job_id, superseded)


# Epochs per series page: a 100,000-epoch curve in one request when its bytes allow.
MAX_SERIES_EPOCHS = 100_000
DEFAULT_SERIES_EPOCHS = 10_000
SeriesLimit = Annotated[int, Query(ge=1, le=MAX_SERIES_EPOCHS, description="Epochs per page.")]


@router.get("/{job_id}/series", response_model=Series)
def job_series(
    job_id: JobId,
    context: Context,
    caller: Caller,
    limit: SeriesLimit = DEFAULT_SERIES_EPOCHS,
    cursor: Cursor = None,
) -> Response:
    """The job's rate curve and metrics as columns, one entry per epoch (the decision in force),
    oldest first: what a chart draws, far smaller and faster than the history's items."""
    points = decision_service.job_series(
        context.engine, caller, job_id, after_epoch=decode_int_cursor(cursor), limit=limit
    )
    body = series_json(points, limit, context.limits.max_page_bytes)
    return Response(body, media_type="application/json")


_JOB_ID = re.compile(JOB_ID_PATTERN.removeprefix("^").removesuffix("$"))
# A several jobs' series cursor: a job id, a space, then an epoch of it (-1: none yet shown).
_SERIES_POSITION = JOB_ID_PATTERN.removesuffix("$") + r" (-1|0|[1-9][0-9]{0,8})$"


def _listed(text: str) -> list[str]:
    """The comma-separated entries of a query parameter, each once, blanks dropped."""
    return list(dict.fromkeys(entry.strip() for entry in text.split(",") if entry.strip()))


def _series_jobs(text: str) -> list[str]:
    """`?jobs=`: job ids, comma-separated."""
    job_ids = _listed(text)
    if not job_ids:
        raise InvalidRequest.at("query.jobs", "name at least one job: ?jobs=a,b,c")
    for job_id in job_ids:
        if not _JOB_ID.fullmatch(job_id):
            raise InvalidRequest.at("query.jobs", f"{job_id!r} is not a job id")
    return job_ids


def _series_fields(text: str | None) -> list[str]:
    """`?fields=`: the columns besides `epochs`, comma-separated; all when not given."""
    if text is None:
        return list(SERIES_FIELDS)
    fields = _listed(text)
    for name in fields:
        if name not in SERIES_FIELDS and name != "epochs":
            known = ", ".join(SERIES_FIELDS)
            raise InvalidRequest.at("query.fields", f"{name!r} is not a column; one of {known}")
    # In the order of a series' columns, whatever the order asked: `epochs` comes always.
    return [name for name in SERIES_FIELDS if name in fields]


def _series_position(cursor: str | None) -> tuple[str, int] | None:
    position = decode_cursor(cursor, _SERIES_POSITION)
    if position is None:
        return None
    job_id, epoch = position.rsplit(" ", 1)
    return job_id, int(epoch)


@series_router.get("", response_model=SeriesOfJobs)
def series_of_jobs(
    context: Context,
    caller: Caller,
    jobs: Annotated[
        str, Query(description="The jobs, by id, comma-separated (LRHUB_MAX_SERIES_JOBS).")
    ],
    fields: Annotated[
        str | None,
        Query(description="The columns besides `epochs`, comma-separated; all when absent."),
    ] = None,
    limit: SeriesLimit = DEFAULT_SERIES_EPOCHS,
    cursor: Cursor = None,
) -> Response:
    """Several jobs' rate curves and metrics in one answer, as `/v1/jobs/{id}/series` gives one
    job's (each job readable by the caller, or the whole request is refused): what a comparison
    draws, in one request and one query instead of one of each per job."""
    job_ids = _series_jobs(jobs)
    columns = _series_fields(fields)
    after = _series_position(cursor)
    with fields_in("query", "jobs"):
        rows = decision_service.series_of_jobs(
            context.engine, context.limits, caller, job_ids, columns, after=after, limit=limit
        )
    body = series_of_jobs_json(
        job_ids,
        after,
        rows,
        fields=columns,
        limit=limit,
        max_bytes=context.limits.max_page_bytes,
    )
    return Response(body, media_type="application/json")
