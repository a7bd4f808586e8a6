"""The floor: a no-op FastAPI endpoint with the decision's shape, served like lrhub.

Same route, same request validation (a pydantic body), and an answer of the same size: the
template is a real decision answer captured from lrhub in the same run (passed in the
environment), with the job id and epoch of the request filled in. It touches no database and
decides nothing, so lrhub's latency over this floor is exactly lrhub's own work.

The endpoint is `async def` (what a no-op FastAPI endpoint is: nothing to wait for), or, with
`LRHUB_BENCH_FLOOR_THREADPOOL=1`, a plain `def` that FastAPI runs in its thread pool, as
lrhub's blocking database code is: the difference between the two is the thread-pool hop.

The durable floor (`LRHUB_BENCH_FLOOR_DATABASE_URL` set) is the thread-pool endpoint plus one
committed INSERT of the request on that database, through the driver stack lrhub uses
(SQLAlchemy Core, a pooled connection, an autocommit statement): the least a durable decision
can cost there. On SQLite the file is in WAL mode with `synchronous=NORMAL`, as lrhub's is.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from fastapi import FastAPI, Path
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
)

# What the durable floor writes per request: the request, as a decision row would hold it.
_metadata = MetaData()
floor_writes = Table(
    "floor_writes",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(253), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("metrics", JSON, nullable=True),
)

RESPONSE_TEMPLATE_VARIABLE = "LRHUB_BENCH_FLOOR_RESPONSE"
THREADPOOL_VARIABLE = "LRHUB_BENCH_FLOOR_THREADPOOL"
DATABASE_VARIABLE = "LRHUB_BENCH_FLOOR_DATABASE_URL"
DECISION_ROUTE = "/v1/jobs/{job_id}/epochs/{epoch}"
Epoch = Annotated[int, Path(ge=0, le=10_000_000)]


class DecisionRequest(BaseModel):
    """The body lrhub accepts at `POST /v1/jobs/{job_id}/epochs/{epoch}`."""

    model_config = ConfigDict(extra="forbid")

    metrics: dict[str, float] | None = None
    steps_per_epoch: int | None = None


def durable_engine(database_url: str) -> Engine:
    """The durable floor's engine: SQLite in WAL with `synchronous=NORMAL` (lrhub's settings),
    or PostgreSQL without pre-ping."""
    if not database_url.startswith("sqlite"):
        return create_engine(database_url, pool_pre_ping=False)
    engine = create_engine(database_url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def prepare_database(database_url: str) -> None:
    """Create the durable floor's table (before its workers start, so they do not race)."""
    engine = durable_engine(database_url)
    _metadata.create_all(engine)
    engine.dispose()


def create_app() -> FastAPI:
    """The floor app; uvicorn builds it with `--factory`, as `lrhub serve` builds lrhub's."""
    raw = os.environ.get(RESPONSE_TEMPLATE_VARIABLE)
    if raw is None:
        raise RuntimeError(f"{RESPONSE_TEMPLATE_VARIABLE} must hold a decision answer (JSON)")
    template: dict[str, Any] = json.loads(raw)
    app = FastAPI(title="lrhub benchmark floor")

    def decide(job_id: str, epoch: Epoch, body: DecisionRequest) -> dict[str, Any]:
        """Answer a decision-sized JSON without deciding or storing anything."""
        return {**template, "job_id": job_id, "epoch": epoch}

    async def decide_in_loop(job_id: str, epoch: Epoch, body: DecisionRequest) -> dict[str, Any]:
        """`decide`, run on the event loop."""
        return decide(job_id, epoch, body)

    database_url = os.environ.get(DATABASE_VARIABLE)
    if database_url:
        engine = durable_engine(database_url)
        statement = insert(floor_writes)

        def decide_durably(job_id: str, epoch: Epoch, body: DecisionRequest) -> dict[str, Any]:
            """`decide`, after committing the request in one autocommit INSERT."""
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(
                    statement, {"job_id": job_id, "epoch": epoch, "metrics": body.metrics}
                )
            return decide(job_id, epoch, body)

        app.post(DECISION_ROUTE)(decide_durably)
    elif os.environ.get(THREADPOOL_VARIABLE) == "1":
        app.post(DECISION_ROUTE)(decide)
    else:
        app.post(DECISION_ROUTE)(decide_in_loop)

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        """Readiness, so the harness polls the floor exactly as it polls lrhub."""
        return {"status": "ready"}

    return app
