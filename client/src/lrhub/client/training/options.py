"""The job options every training adapter takes, declared and documented once.

An adapter's signature is its own parameters plus `**options: Unpack[JobOptionKeywords]`, so type
checkers check the keywords and editors complete and document them from this one declaration.
`JobOptions` is the same options checked, with their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict

from .._sync import Client
from ..models import JsonObject
from ..outage import DEFAULT_MAX_PENDING
from .breaker import CircuitBreaker

OnError = Literal["hold", "local", "raise"]
OnConflict = Literal["warn", "raise"]


class RunOptionKeywords(TypedDict, total=False):
    """What a `JobRun` takes beside its job id: `JobOptionKeywords` but `job`, documented there."""

    schedule: str | None
    spec: JsonObject | None
    labels: Mapping[str, str] | None
    scale: float
    on_error: OnError
    on_conflict: OnConflict
    client: Client | None
    max_pending: int
    breaker: CircuitBreaker | None


class JobOptionKeywords(RunOptionKeywords, total=False):
    """The job a training adapter trains as and how it talks to lrhub: the keyword arguments
    every adapter (`lrhub.client.keras`, `.torch`, `.lightning`, `.transformers`) takes, all
    optional, checked when given and documented here once.

    Attributes:
        job: the job id; defaults to `LRHUB_JOB_ID`.
        schedule: `"name"` or `"name@3"` to register the job with, or
        spec: an inline schedule spec (a dict). With neither, the job must already exist.
        labels: labels of the job when it is created.
        scale: factor applied by the service to the schedule's rate; default 1.0.
        on_error: what to do when the service cannot answer (warns once per outage):
            `"hold"` (the default) keeps the current rate; `"local"` computes the rate on the
            client with the shared engine from the job's last spec and state the service sent,
            as the service would (a PATCH made during the outage is not seen; before any answer
            it holds); `"raise"` stops training with the error. With hold and local the reports
            the service missed (unreachable, 5xx, 429) are buffered and, once it answers again,
            replayed in order, so the job's plateau state and history end as if nothing had
            happened. The rates applied during the outage stay applied. During an outage a
            circuit breaker makes epochs fail fast: the service is asked again only once a
            one-second probe of `/readyz` succeeds (probes spaced 1 s, 2 s, ... up to 60 s).
            At most `max_pending` reports are buffered; beyond, the oldest are dropped and the
            service sees a gap (decided from its state as it is).
        on_conflict: the job exists with another schedule or spec than `schedule`/`spec`:
            `"warn"` (the default; it keeps its own) or `"raise"` (`JobConflict`).
        client: the `Client` to use; defaults to one configured from `LRHUB_*` variables. Its
            retries come before `on_error`: `Client(max_retries=0)` holds at once in an outage.
        max_pending: the bound of that buffer, in reports; default 10,000.
        breaker: the circuit breaker's probe timeout and spacing (`CircuitBreaker`); a copy is
            used, never shared.
    """

    job: str | None


@dataclass(frozen=True)
class JobOptions:
    """`JobOptionKeywords` checked (a `ValueError` for a bad value), with the defaults filled in.

    `JobRun` reads its options through it; the Lightning and Transformers callbacks make one to
    refuse bad options when they are built, before the run exists.
    """

    job: str | None = None
    schedule: str | None = None
    spec: JsonObject | None = None
    labels: Mapping[str, str] | None = None
    scale: float = 1.0
    on_error: OnError = "hold"
    on_conflict: OnConflict = "warn"
    client: Client | None = None
    max_pending: int = DEFAULT_MAX_PENDING
    breaker: CircuitBreaker | None = None

    def __post_init__(self) -> None:
        if self.on_error not in ("hold", "local", "raise"):
            raise ValueError(f'on_error must be "hold", "local" or "raise", not {self.on_error!r}')
        if self.on_conflict not in ("warn", "raise"):
            raise ValueError(f'on_conflict must be "warn" or "raise", not {self.on_conflict!r}')
        if self.schedule is not None and self.spec is not None:
            raise ValueError("give a schedule or a spec, not both")
