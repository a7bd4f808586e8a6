"""Fill lrhub's database with many jobs quickly, through the service's own tables.

One real job is decided over HTTP (so every row is exactly what the service writes); SQL then
copies its `jobs` row and its `decisions` rows to new job ids with INSERT ... SELECT, a few
thousand statements instead of a million HTTP requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import httpx
from sqlalchemy import Insert, String, bindparam, insert, select

from bench.workload import EPOCHS_PER_JOB, create_job, decision_body, decision_path
from lrhub.service.storage.database import make_engine, write_transaction
from lrhub.service.storage.tables import decisions, jobs

SEED_JOB_PREFIX = "scale"
TEMPLATE_JOB = f"{SEED_JOB_PREFIX}-0"
# Jobs copied per transaction: bounded memory, few commits.
BATCH = 500


def seeded_job_id(index: int) -> str:
    return f"{SEED_JOB_PREFIX}-{index}"


def decide_template_job(client: httpx.Client) -> None:
    """Create the template job and decide its 100 epochs over HTTP."""
    create_job(client, TEMPLATE_JOB)
    for epoch in range(EPOCHS_PER_JOB):
        response = client.post(decision_path(TEMPLATE_JOB, epoch), json=decision_body(epoch))
        response.raise_for_status()


def _copy_statements(template: str) -> tuple[Insert, Insert]:
    """INSERT ... SELECT statements copying the template's job row and its decisions."""
    new_id = bindparam("new_job_id", type_=String)
    new_hash = bindparam("new_token_hash", type_=String)
    job_columns = [c for c in jobs.c if c.name not in ("job_id", "token_hash")]
    copy_job = insert(jobs).from_select(
        ["job_id", "token_hash", *(c.name for c in job_columns)],
        select(new_id, new_hash, *job_columns).where(jobs.c.job_id == template),
    )
    decision_columns = [c for c in decisions.c if c.name not in ("id", "job_id")]
    copy_decisions = insert(decisions).from_select(
        ["job_id", *(c.name for c in decision_columns)],
        select(new_id, *decision_columns).where(decisions.c.job_id == template),
    )
    return copy_job, copy_decisions


def copy_template_job(
    database_url: str,
    indexes: Sequence[int],
    template: str = TEMPLATE_JOB,
    job_id: Callable[[int], str] = seeded_job_id,
) -> None:
    """Give each index in `indexes` a job `job_id(index)` identical to `template` (its row and
    history)."""
    copy_job, copy_decisions = _copy_statements(template)
    engine = make_engine(database_url)
    try:
        for start in range(0, len(indexes), BATCH):
            params = [
                {
                    "new_job_id": job_id(index),
                    "new_token_hash": hashlib.sha256(f"bench-{index}".encode()).hexdigest(),
                }
                for index in indexes[start : start + BATCH]
            ]
            with write_transaction(engine) as connection:
                connection.execute(copy_job, params)
                connection.execute(copy_decisions, params)
        if engine.dialect.name == "postgresql":
            # What autovacuum would do soon anyway: measured afterwards, it would compete with
            # the server for the cores, and the planner would not know the tables' new sizes.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE jobs, decisions")
    finally:
        engine.dispose()
