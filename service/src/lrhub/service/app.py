"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.pool import NullPool, QueuePool
from starlette.concurrency import run_in_threadpool

from lrhub.service.auth.middleware import AuthenticationMiddleware
from lrhub.service.auth.tokens import Authenticator, TokenLookups
from lrhub.service.catalog import routes as catalog_routes
from lrhub.service.changes import routes as change_routes
from lrhub.service.context import AppContext
from lrhub.service.decisions import routes as decision_routes
from lrhub.service.decisions.cache import JobRowCache
from lrhub.service.http.body_limit import BodyLimitMiddleware
from lrhub.service.http.openapi import install_openapi, operation_id
from lrhub.service.http.problems import install_problem_handlers
from lrhub.service.jobs import routes as job_routes
from lrhub.service.jobs import service as job_service
from lrhub.service.jobs.retention import purge_periodically
from lrhub.service.metrics.prometheus import RequestMetricsMiddleware, ServiceMetrics
from lrhub.service.operations import routes as operation_routes
from lrhub.service.previews import routes as preview_routes
from lrhub.service.rollouts import routes as rollout_routes
from lrhub.service.rollouts.judging import JudgeLoop
from lrhub.service.settings import ServerSettings
from lrhub.service.storage.database import make_engine
from lrhub.service.stream import routes as stream_routes
from lrhub.service.stream.slots import StreamSlots
from lrhub.service.tokens import routes as token_routes
from lrhub.service.tokens import service as token_service
from lrhub.service.ui.routes import install_pages
from lrhub.service.webhooks import routes as webhook_routes
from lrhub.service.webhooks.deliverer import Deliverer

API_VERSION = "1"
# How long a thread holding the GIL runs before another waiting one gets it (CPython's default
# is 5 ms). A decision is a few GIL hand-offs (event loop, thread pool, driver calls); behind one
# job's costly evaluation each hand-off would wait out the whole interval, so a light decision
# took 20 ms and more. At 0.5 ms it stays within a few; uncontended threads never pay for it.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The lrhub app for `settings` (default: from `LRHUB_*` environment variables).

    The schema must exist already: `lrhub serve` runs `storage.migrate.upgrade_schema` before it
    starts workers.
    """
    settings = settings or ServerSettings()
    engine = make_engine(
        settings.database_url,
        lock_timeout=settings.lock_timeout,
        io_timeout=settings.database_timeout,
    )
    metrics = ServiceMetrics()

    evaluator = settings.evaluator()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        deliverer = _webhook_deliverer(settings)
        judge = _rollout_judge(settings)
        try:
            if settings.retention_days is None:
                yield
                return
            retention = timedelta(days=settings.retention_days)
            # The first purge runs before the first request is served.
            await run_in_threadpool(job_service.purge_finished_jobs, engine, older_than=retention)
            purging = asyncio.create_task(purge_periodically(engine, retention))
            try:
                yield
            finally:
                purging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purging
        finally:
            if deliverer is not None:
                await run_in_threadpool(deliverer.stop)
            if judge is not None:
                await run_in_threadpool(judge.stop)
            # Waits for evaluations still running (their requests were answered or cut by now).
            await run_in_threadpool(evaluator.close)

    app = FastAPI(
        title="lrhub",
        version=API_VERSION,
        description="Named, versioned learning-rate schedules and durable per-job state.",
        generate_unique_id_function=operation_id,
        # Relative: the interactive docs and generated clients talk to the server they read it from.
        servers=[{"url": "/", "description": "the server that serves this document"}],
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        lifespan=lifespan,
        # /docs is served by lrhub.service.ui with Swagger UI from the package (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    context = AppContext(
        settings=settings,
        engine=engine,
        probe_engine=make_engine(
            settings.database_url,
            lock_timeout=settings.lock_timeout,
            io_timeout=settings.database_timeout,
            poolclass=NullPool,
        ),
        authenticator=Authenticator(
            settings.admin_tokens(),
            TokenLookups(
                job_id_of=functools.partial(job_service.job_id_of_token, engine),
                api_token_of=functools.partial(token_service.find_by_hash, engine),
                record_use=functools.partial(token_service.record_use, engine),
            ),
        ),
        metrics=metrics,
        limits=settings.limits(),
        evaluator=evaluator,
    )
    app.state.context = context
    app.state.job_rows = JobRowCache()
    app.state.stream_slots = StreamSlots(settings.stream_max_connections)
    install_problem_handlers(app)
    install_openapi(app)
    # A request is matched against the routers in this order, route by route: the decision,
    # the one request a training job makes every epoch (or interval), is tried first.
    for router in (
        decision_routes.router,
        catalog_routes.router,
        preview_routes.router,
        job_routes.router,
        job_routes.schedule_router,
        change_routes.job_router,
        change_routes.router,
        decision_routes.series_router,
        token_routes.router,
        token_routes.me_router,
        webhook_routes.router,
        rollout_routes.router,
        stream_routes.router,
        operation_routes.router,
    ):
        app.include_router(router)
    install_pages(app)
    # Starlette wraps middleware added later around earlier ones: requests pass metrics, then
    # authentication (nothing is read from an unknown caller), then the body limit.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout
    )
    app.add_middleware(AuthenticationMiddleware, authenticator=context.authenticator)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app


def _webhook_deliverer(settings: ServerSettings) -> Deliverer | None:
    """This process's webhook deliverer, started, with its own database connections (none
    when LRHUB_WEBHOOK_DELIVER is false, or no webhook can exist without LRHUB_WEBHOOK_KEY)."""
    options = settings.webhook_options()
    if not settings.webhook_deliver or options.key is None:
        return None
    engine = make_engine(
        settings.database_url,
        lock_timeout=settings.lock_timeout,
        io_timeout=settings.database_timeout,
        poolclass=QueuePool,
        pool_size=2,
        max_overflow=2,
    )
    deliverer = Deliverer(engine, options)
    deliverer.start()
    return deliverer


def _rollout_judge(settings: ServerSettings) -> JudgeLoop | None:
    """This process's rollout judge, started, with its own database connection (none when
    LRHUB_ROLLOUT_JUDGE is false)."""
    if not settings.rollout_judge:
        return None
    engine = make_engine(
        settings.database_url,
        lock_timeout=settings.lock_timeout,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=1,
    )
    judge = JudgeLoop(
        engine, interval=settings.rollout_judge_interval, stale_after=settings.stale_after
    )
    judge.start()
    return judge
