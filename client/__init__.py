"""The lrhub client: Python SDK, Keras callback (`lrhub.client.keras`) and the `lrhub` command.

Importing this package never imports TensorFlow, FastAPI or SQLAlchemy.
"""

from ._async import AsyncClient
from ._base import RetryPolicy
from ._sync import Client
from .errors import (
    BadRequest,
    Conflict,
    ConnectError,
    EvaluationError,
    Forbidden,
    LrhubError,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ProblemError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Timeout,
    TransportError,
    Unauthorized,
    ValidationError,
)
from .models import (
    Decision,
    Event,
    Health,
    HistoryEntry,
    Job,
    JobPatch,
    JobSchedule,
    Page,
    PreviewResult,
    Readiness,
    Schedule,
    ScheduleVersionRef,
)
from .settings import ClientSettings

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Client",
    "ClientSettings",
    "Conflict",
    "ConnectError",
    "Decision",
    "EvaluationError",
    "Event",
    "Forbidden",
    "Health",
    "HistoryEntry",
    "Job",
    "JobPatch",
    "JobSchedule",
    "LrhubError",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreviewResult",
    "ProblemError",
    "RateLimited",
    "Readiness",
    "RetryPolicy",
    "Schedule",
    "ScheduleVersionRef",
    "ServerError",
    "ServiceUnavailable",
    "Timeout",
    "TransportError",
    "Unauthorized",
    "ValidationError",
]
