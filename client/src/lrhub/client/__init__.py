"""The lrhub client: Python SDK, Keras callback (`lrhub.client.keras`) and the `lrhub` command.

    from lrhub.client import Client, JobPatch

    with Client("http://127.0.0.1:8000") as client:  # or LRHUB_URL, LRHUB_TOKEN from the env
        client.put_schedule("drop", {"type": "step_decay", "initial_learning_rate": 0.1,
                                     "drop": 0.5, "every": 10})
        client.put_job("train-42", schedule="drop", labels={"team": "vision"})
        decision = client.decide("train-42", 0, metrics={})
        client.patch_job("train-42", JobPatch(scale=0.5))

`AsyncClient` has the same methods as coroutines. Errors are `LrhubError` subclasses (see
`lrhub.client.errors`). Importing this package never imports TensorFlow, FastAPI or SQLAlchemy.
"""

from ._async import AsyncClient
from ._http import RetryPolicy
from ._sync import Client
from .errors import (
    BadRequest,
    Conflict,
    ConnectError,
    EvaluationFailed,
    Forbidden,
    HeadersTooLarge,
    JobConflict,
    LrhubError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ProblemError,
    RateLimited,
    RequestTimeout,
    ServerError,
    ServiceDown,
    ServiceUnavailable,
    Timeout,
    TransportError,
    Unauthorized,
    ValidationError,
)
from .models import (
    Applied,
    AuditEvent,
    BulkChange,
    BulkJob,
    Change,
    Delivery,
    DeliveryAttempt,
    EpochAnswer,
    Health,
    HistoryEntry,
    Job,
    JobPatch,
    JobSchedule,
    JobToken,
    Page,
    PreviewResult,
    Readiness,
    Schedule,
    ScheduleVersionRef,
    Series,
    StreamEvent,
    Token,
    TokenCreated,
    Webhook,
    WebhookCreated,
)
from .settings import ClientSettings

__all__ = [
    "Applied",
    "AsyncClient",
    "AuditEvent",
    "BadRequest",
    "BulkChange",
    "BulkJob",
    "Change",
    "Client",
    "ClientSettings",
    "Conflict",
    "ConnectError",
    "Delivery",
    "DeliveryAttempt",
    "EpochAnswer",
    "EvaluationFailed",
    "Forbidden",
    "HeadersTooLarge",
    "Health",
    "HistoryEntry",
    "Job",
    "JobConflict",
    "JobPatch",
    "JobSchedule",
    "JobToken",
    "LrhubError",
    "MethodNotAllowed",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreviewResult",
    "ProblemError",
    "RateLimited",
    "Readiness",
    "RequestTimeout",
    "RetryPolicy",
    "Schedule",
    "ScheduleVersionRef",
    "Series",
    "ServerError",
    "ServiceDown",
    "ServiceUnavailable",
    "StreamEvent",
    "Timeout",
    "Token",
    "TokenCreated",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "Webhook",
    "WebhookCreated",
]
