"""The app's wiring: what every request handler gets from the running app (`AppContext`, built by
`create_app`) and the caller, as FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from lrhub.service.auth.middleware import PRINCIPAL_STATE_KEY
from lrhub.service.auth.principal import Principal
from lrhub.service.auth.tokens import Authenticator
from lrhub.service.evaluation import Evaluator
from lrhub.service.limits import Limits
from lrhub.service.metrics.prometheus import ServiceMetrics
from lrhub.service.settings import ServerSettings


@dataclass(frozen=True)
class AppContext:
    """The app's long-lived parts every domain may use: settings, database engine, auth,
    metrics, limits, where costly evaluations run. A domain's own long-lived part (the decision
    path's cache of job rows, the stream slots) is on `app.state` under its name, read by that
    domain's routes (the decision reads its cache itself, sparing the hot path a dependency),
    so this module imports no domain."""

    settings: ServerSettings
    engine: Engine
    probe_engine: Engine  # unpooled, for readiness probes only
    authenticator: Authenticator
    metrics: ServiceMetrics
    limits: Limits
    evaluator: Evaluator


async def get_context(request: Request) -> AppContext:
    """The AppContext `create_app` stored on the app."""
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


async def get_principal(request: Request) -> Principal:
    """The caller, as AuthenticationMiddleware identified it."""
    principal: Principal = request.scope["state"][PRINCIPAL_STATE_KEY]
    return principal


Caller = Annotated[Principal, Depends(get_principal)]
