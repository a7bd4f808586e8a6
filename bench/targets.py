"""The decision endpoints a benchmark compares: lrhub on each database, and the floor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.postgres import scratch_postgres
from bench.servers import floor_server, lrhub_server
from bench.workload import create_job, decision_body, decision_path
from tests.support.server import ServerProcess

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

FLOOR = "floor"
FLOOR_THREADPOOL = "floor-threadpool"
# The thread-pool floor plus one committed INSERT: each database's baseline (the durable floors).
FLOOR_DURABLE_SQLITE = "floor-durable-sqlite"
FLOOR_DURABLE = "floor-durable-postgresql"
FLOORS = (FLOOR, FLOOR_THREADPOOL, FLOOR_DURABLE_SQLITE, FLOOR_DURABLE)
# Each lrhub target's durable floor.
DURABLE_FLOOR_OF = {SQLITE: FLOOR_DURABLE_SQLITE, POSTGRESQL: FLOOR_DURABLE}
SAMPLE_JOB = "bench-sample"


@dataclass(frozen=True)
class Target:
    """One server answering decisions; the floor has no jobs to create."""

    name: str
    server: ServerProcess

    @property
    def is_floor(self) -> bool:
        return self.name in FLOORS

    def prepare_job(self, client: httpx.Client, job_id: str) -> None:
        """Register `job_id` on lrhub; nothing to do on the floor."""
        if not self.is_floor:
            create_job(client, job_id)


def sample_decision(url: str) -> dict[str, Any]:
    """A real decision answer from lrhub at `url`, as the floor's answer template."""
    with httpx.Client(base_url=url, timeout=30) as client:
        create_job(client, SAMPLE_JOB)
        response = client.post(decision_path(SAMPLE_JOB, 1), json=decision_body(1))
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


@contextmanager
def decision_targets(config: BenchConfig, *, workers: int = 1) -> Iterator[list[Target]]:
    """Start the floors, lrhub on SQLite and (if configured) on a scratch PostgreSQL database,
    with each durable floor on a database of the same kind (an SQLite file beside lrhub's, a
    scratch database of the same PostgreSQL server)."""
    tag = f"w{workers}"
    with ExitStack() as stack:
        sqlite = stack.enter_context(lrhub_server(config.workdir / f"sqlite-{tag}", None, workers))
        targets = [Target(SQLITE, sqlite)]
        floor_sqlite = f"sqlite:///{config.workdir / f'floor-durable-{tag}.db'}"
        floor_kinds: list[tuple[str, bool, str | None]] = [
            (FLOOR, False, None),
            (FLOOR_THREADPOOL, True, None),
            (FLOOR_DURABLE_SQLITE, True, floor_sqlite),
        ]
        if config.postgres_url is not None:
            url = stack.enter_context(scratch_postgres(config.postgres_url))
            pg = stack.enter_context(lrhub_server(config.workdir / f"pg-{tag}", url, workers))
            targets.append(Target(POSTGRESQL, pg))
            floor_url = stack.enter_context(scratch_postgres(config.postgres_url))
            floor_kinds.append((FLOOR_DURABLE, True, floor_url))
        template = sample_decision(sqlite.url)
        floors = []
        for name, threadpool, database_url in floor_kinds:
            workdir = config.workdir / f"{name}-{tag}"
            floor = stack.enter_context(
                floor_server(workdir, template, workers, threadpool, database_url)
            )
            floors.append(Target(name, floor))
        yield [*floors, *targets]
