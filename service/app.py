"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from lrhub.service import routes_ops
from lrhub.service.auth import Authenticator
from lrhub.service.body_limit import BodyLimitMiddleware
from lrhub.service.context import AppContext
from lrhub.service.database import make_engine
from lrhub.service.metrics import RequestMetricsMiddleware, ServiceMetrics
from lrhub.service.problems import install_problem_handlers
from lrhub.service.settings import ServerSettings
from lrhub.service.strict_json import StrictJsonRoute

API_VERSION = "1"


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The lrhub app for `settings` (default: from `LRHUB_*` environment variables).

    The schema must exist already: `lrhub serve` runs `migrate.upgrade_schema` before it
    starts workers.
    """
    settings = settings or ServerSettings()
    engine = make_engine(settings.database_url)
    metrics = ServiceMetrics()
    app = FastAPI(
        title="lrhub",
        version=API_VERSION,
        description="Named, versioned learning-rate schedules and durable per-job state.",
    )
    app.router.route_class = StrictJsonRoute
    app.state.context = AppContext(
        settings=settings,
        engine=engine,
        authenticator=Authenticator(settings.admin_tokens(), engine),
        metrics=metrics,
    )
    install_problem_handlers(app)
    app.include_router(routes_ops.router)
    # Starlette wraps middleware added later around earlier ones: metrics see 413s too.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app
