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
from lrhub.service.decisions.cache import JobRowCache
from lrhub.service.evaluation import Evaluator
from lrhub.service.limits import Limits
from lrhub.service.operations.metrics import ServiceMetrics
from lrhub.service.settings import ServerSettings
from lrhub.service.stream.slots import StreamSlots


@dataclass(frozen=True)
class AppContext:
    """The app's long-lived parts: settings, database engine, auth, metrics, the decision
    path's cache of job rows, where costly evaluations run."""

    settings: ServerSettings
    engine: Engine
    probe_engine: Engine  # unpooled, for readiness probes only
    authenticator: Authenticator
    metrics: ServiceMetrics
    job_rows: JobRowCache
    limits: Limits
    evaluator: Evaluator
    stream_slots: StreamSlots


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
