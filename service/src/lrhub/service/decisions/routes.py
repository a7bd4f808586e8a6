"""`/v1/jobs/{job_id}/epochs`: the decision and the history."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import Body, Path, Response

from lrhub.service.decisions import service as decision_service
from lrhub.service.http.dependencies import Caller, Context
from lrhub.service.http.paging import DEFAULT_LIMIT, Cursor, Limit
from lrhub.service.http.responses import model_response
from lrhub.service.http.routers import v1_router
from lrhub.service.http.schemas import (
    MAX_EPOCH,
    DecisionOut,
    DecisionRequest,
    HistoryItem,
    Page,
)
from lrhub.service.jobs.routes import JobId
from lrhub.service.storage.database import run_blocking

router = v1_router("/v1/jobs", "decisions")

CSV_COLUMNS = (
    "epoch", "learning_rate", "reason", "stop", "schedule", "version", "superseded",
    "decided_at", "metrics",
)  # fmt: skip


@router.post("/{job_id}/epochs/{epoch}", response_model=DecisionOut)
async def decide_epoch(
    job_id: JobId,
    epoch: Annotated[int, Path(ge=0, le=MAX_EPOCH)],
    context: Context,
    caller: Caller,
    body: Annotated[DecisionRequest | None, Body()] = None,
) -> Response:
    """The learning rate of `epoch`, given the metrics observed at the end of epoch-1."""
    request = body or DecisionRequest()
    result = await run_blocking(
        context.engine,
        decision_service.decide_epoch,
        context.engine,
        caller,
        job_id,
        epoch,
        request.metrics,
        request.steps_per_epoch,
    )
    context.metrics.record_decision(
        job_id, result.outcome, result.answer.learning_rate, result.reductions
    )
    return model_response(result.answer)


def _history_csv(items: list[HistoryItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(
            [
                item.epoch,
                repr(item.learning_rate),
                item.reason,
                str(item.stop).lower(),
                item.schedule.name or "",
                item.schedule.version if item.schedule.version is not None else "",
                str(item.superseded).lower(),
                item.decided_at.isoformat().replace("+00:00", "Z"),
                json.dumps(item.metrics, sort_keys=True),
            ]
        )
    return out.getvalue()


@router.get(
    "/{job_id}/epochs",
    response_model=Page[HistoryItem],
    responses={200: {"content": {"text/csv": {}}}},
)
def job_history(
    job_id: JobId,
    context: Context,
    caller: Caller,
    format: Literal["json", "csv"] = "json",
    superseded: bool = True,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The job's decisions, oldest first; `format=csv` gives every row in one CSV."""
    as_csv = format == "csv"
    page = decision_service.job_history(
        context.engine,
        caller,
        job_id,
        include_superseded=superseded,
        cursor=None if as_csv else cursor,
        limit=None if as_csv else limit,
    )
    if as_csv:
        return Response(_history_csv(page.items), media_type="text/csv")
    return model_response(page)
