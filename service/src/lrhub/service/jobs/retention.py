"""`LRHUB_RETENTION_DAYS`: finished jobs idle for longer are deleted, with their history.

Every server process purges when it starts (`create_app`'s lifespan) and then hourly; replicas
purging together are harmless (a job one of them deleted is gone for the others).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from lrhub.service.jobs.service import purge_finished_jobs

PURGE_INTERVAL_SECONDS = 3600.0

logger = logging.getLogger(__name__)


async def purge_periodically(engine: Engine, retention: timedelta) -> None:
    """Purge every `PURGE_INTERVAL_SECONDS` until cancelled; a failed purge (database
    unreachable) is logged and tried again at the next interval."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            await run_in_threadpool(purge_finished_jobs, engine, older_than=retention)
        except Exception:  # the next purge retries; the server keeps serving meanwhile
            logger.exception("retention purge failed")
