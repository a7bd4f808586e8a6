"""`JobRun`: one training job's conversation with lrhub, free of any framework.

The Keras callback (and any other framework adapter) drives it with the job's own epoch numbers:

    run = JobRun("train-42", spec={...})
    run.start()                                    # register (idempotent), check for a conflict
    answer = run.decide(0, {})                     # epoch 0's rate
    for epoch in range(epochs):
        ...train epoch with answer.learning_rate...
        if epoch + 1 < epochs:
            answer = run.decide(epoch + 1, logs)   # epoch `epoch`'s end: its metrics, the next rate
        else:
            run.end_epoch(epoch, logs)             # the last epoch's metrics
    run.finish("completed")

What it adds to a `Client`: the `on_error` modes (hold, compute locally, raise), the outage
buffer replayed in order once the service answers again, a circuit breaker that makes epochs fail
fast during an outage, and the job's lifecycle reports: `failed` too when an exception nobody
catches ends the process between a run's first report and its `finish` (a crash in the middle of
training; a SIGTERM or SIGKILL, such as a preemption, reports nothing: the job goes on when a
successor resumes it). That hook and `RemoteScheduler`'s context manager are the two ways a crash
is reported; docs/design.md ("A crash") says why both exist and why they never report twice.
A `JobRun` can be deep-copied and pickled
(a hyperparameter tuner copies its callbacks): the copy gets a new `Client` with the same
configuration and starts without the original's buffer or breaker state.

The adapters share their job's parameters as `JobOptions` (documented there, once), which makes
their `JobRun`; `UsesJobRun` gives them its `job` and `client`.
"""

from __future__ import annotations

import sys
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from math import isfinite
from types import TracebackType
from typing import Any, Literal, TypeVar

from lrhub.schedules import ScheduleError, is_metric_name, parse_spec

from ._sync import Client
from .errors import JobConflict, LrhubError, ProblemError, ServiceDown, TransportError
from .local_decisions import JobSnapshot, LocalAnswer, answer_locally
from .models import EpochAnswer, Job, JobPatch, JsonObject
from .outage import DEFAULT_MAX_PENDING, PendingEpochs, is_outage

OnError = Literal["hold", "local", "raise"]
OnConflict = Literal["warn", "raise"]
ResultT = TypeVar("ResultT")

# What asking lrhub fails with: no answer (unreachable, breaker open) or a refusal; `on_error`,
# the buffer and the breaker deal with these. Not a `JobConflict`: the job exists with another
# schedule than the one given, which the caller hears of whatever `on_error` says.
_UNANSWERED = (TransportError, ProblemError, ServiceDown)


def reported_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """What a framework logged at an epoch's (or evaluation's) end that the service accepts:
    finite numbers (Python, NumPy or 0-d tensors) under valid metric names, without the rate
    the adapter itself logs."""
    metrics: dict[str, float] = {}
    for name, value in logs.items():
        if name == "learning_rate" or not is_metric_name(name):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of many values
            continue
        if isfinite(number):
            metrics[name] = number
    return metrics


def loss_of(logs: Mapping[str, Any]) -> float | None:
    """The logged `loss` as a float (NaN and infinities kept: they mean the training failed)."""
    try:
        return float(logs["loss"])
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None


def ending_status(last_loss: float | None) -> Literal["completed", "failed"]:
    """How a training that ended normally is reported: failed when its last loss is not finite."""
    return "failed" if last_loss is not None and not isfinite(last_loss) else "completed"


@dataclass
class CircuitBreaker:
    """Open after an outage: calls fail fast until a cheap probe finds the service ready again.

    While open, a probe (one `GET /readyz` attempt of `probe_timeout` seconds) is tried at most
    once per wait, the wait doubling from `first_wait` to `max_wait` seconds; so a service that
    accepts connections and never answers costs one short probe now and then, not the client's
    whole retry ladder at every epoch.
    """

    probe_timeout: float = 1.0
    first_wait: float = 1.0
    max_wait: float = 60.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    is_open: bool = False
    _wait: float = 0.0
    _next_probe: float = 0.0

    def trip(self) -> None:
        """An outage error: open (or stay open) and wait before the next probe."""
        self._wait = self.first_wait if not self.is_open else min(self._wait * 2, self.max_wait)
        self.is_open = True
        self._next_probe = self.clock() + self._wait

    def allows(self, probe: Callable[[float], bool]) -> bool:
        """True when a call may go out: closed, or open and a probe due now succeeds."""
        if not self.is_open:
            return True
        if self.clock() < self._next_probe:
            return False
        if probe(self.probe_timeout):
            self.is_open = False
            return True
        self.trip()
        return False


@dataclass(frozen=True)
class _ClientConfig:
    url: str
    token: str | None
    timeout: float
    max_retries: int

    @classmethod
    def of(cls, client: Client) -> _ClientConfig:
        return cls(client.url, client.token, client.timeout, client.retry.max_retries)

    def client(self) -> Client:
        return Client(
            self.url, token=self.token, timeout=self.timeout, max_retries=self.max_retries
        )


def _refuse_invalid(
    schedule: str | None, spec: JsonObject | None, on_error: str, on_conflict: str
) -> None:
    if on_error not in ("hold", "local", "raise"):
        raise ValueError(f'on_error must be "hold", "local" or "raise", not {on_error!r}')
    if on_conflict not in ("warn", "raise"):
        raise ValueError(f'on_conflict must be "warn" or "raise", not {on_conflict!r}')
    if schedule is not None and spec is not None:
        raise ValueError("give a schedule or a spec, not both")


@dataclass(frozen=True)
class JobOptions:
    """The job a training adapter trains as and how it talks to lrhub: the parameters every
    adapter (`lrhub.client.keras`, `.torch`, `.lightning`, `.transformers`) takes, checked when
    given and documented here once. `run()` makes the adapter's `JobRun` of them.

    Attributes:
        job: the job id; defaults to `LRHUB_JOB_ID`.
        schedule: `"name"` or `"name@3"` to register the job with, or
        spec: an inline schedule spec (a dict). With neither, the job must already exist.
        labels: labels of the job when it is created.
        scale: factor applied by the service to the schedule's rate.
        on_error: what to do when the service cannot answer (warns once per outage):
            `"hold"` keeps the current rate; `"local"` computes the rate on the client with the
            shared engine from the job's last spec and state the service sent, as the service
            would (a PATCH made during the outage is not seen; before any answer it holds);
            `"raise"` stops training with the error. With hold and local the reports the
            service missed (unreachable, 5xx, 429) are buffered and, once it answers again,
            replayed in order, so the job's plateau state and history end as if nothing had
            happened. The rates applied during the outage stay applied. During an outage a
            circuit breaker makes epochs fail fast: the service is asked again only once a
            one-second probe of `/readyz` succeeds (probes spaced 1 s, 2 s, ... up to 60 s).
            At most `max_pending` reports are buffered; beyond, the oldest are dropped and the
            service sees a gap (decided from its state as it is).
        on_conflict: the job exists with another schedule or spec than `schedule`/`spec`:
            `"warn"` (it keeps its own) or `"raise"` (`JobConflict`).
        client: the `Client` to use; defaults to one configured from `LRHUB_*` variables. Its
            retries come before `on_error`: `Client(max_retries=0)` holds at once in an outage.
        max_pending: the bound of that buffer, in reports.
        breaker: the circuit breaker's probe timeout and spacing (`CircuitBreaker`); a copy is
            used, never shared.
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
        _refuse_invalid(self.schedule, self.spec, self.on_error, self.on_conflict)

    def keywords(self) -> dict[str, Any]:
        """These options as keyword arguments, for an adapter that passes them on to another
        (the Lightning and Transformers callbacks to `RemoteScheduler`)."""
        return {option.name: getattr(self, option.name) for option in fields(self)}

    def run(self, adapter: str) -> JobRun:
        """The `JobRun` of these options; `adapter` (its class name) is named in the error when
        there is no job id, given or in `LRHUB_JOB_ID`."""
        client = self.client or Client()
        job = self.job or client.job_id
        if not job:
            raise ValueError(f"{adapter} needs a job id: pass job=... or set LRHUB_JOB_ID")
        return JobRun(
            job, schedule=self.schedule, spec=self.spec, labels=self.labels, scale=self.scale,
            on_error=self.on_error, on_conflict=self.on_conflict, client=client,
            max_pending=self.max_pending, breaker=self.breaker,
        )  # fmt: skip


class UsesJobRun:
    """The `job` and `client` of an adapter that talks to lrhub through its `run`."""

    run: JobRun

    @property
    def job(self) -> str:
        """The job id."""
        return self.run.job

    @property
    def client(self) -> Client:
        """The client this adapter talks to lrhub with."""
        return self.run.client


class JobRun:
    """A training job as lrhub sees it, driven by a framework adapter; see the module docstring.

    Args:
        job: the job id.
        schedule, spec, labels, scale, on_error, on_conflict, client, max_pending, breaker: as
            `JobOptions` (`client` defaults to one from `LRHUB_*`).
    """

    def __init__(
        self,
        job: str,
        *,
        schedule: str | None = None,
        spec: JsonObject | None = None,
        labels: Mapping[str, str] | None = None,
        scale: float = 1.0,
        on_error: OnError = "hold",
        on_conflict: OnConflict = "warn",
        client: Client | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        _refuse_invalid(schedule, spec, on_error, on_conflict)
        self.job = job
        self.schedule = schedule
        self.spec = spec
        self.labels = dict(labels or {})
        self.scale = scale
        self.on_error = on_error
        self.on_conflict = on_conflict
        self.client = client or Client()
        self.max_pending = max_pending
        # Its own copy: the breaker holds this run's outage state.
        self.breaker = replace(breaker, is_open=False) if breaker else CircuitBreaker()
        self.registered = False
        self._failing = False
        self._pending = PendingEpochs(max_pending)
        # The job as the service last described it (local mode): what local answers start from.
        self._snapshot: JobSnapshot | None = None

    # -- copies: a tuner deep-copies its callbacks, a launcher may pickle them ----------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["client"] = _ClientConfig.of(self.client)
        state["breaker"] = replace(self.breaker, is_open=False)
        state["_pending"] = PendingEpochs(self.max_pending)
        state["_failing"] = False
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        config: _ClientConfig = state["client"]
        self.__dict__.update(state, client=config.client())

    # -- the lifecycle -------------------------------------------------------------------------

    def start(self) -> Job | None:
        """Register the job (idempotent: a restarted process gets its own job back); the job,
        or None when the service could not be reached and `on_error` is not "raise"."""
        return self._guarded(self._register)

    def decide(
        self,
        epoch: int,
        metrics: Mapping[str, float] | None,
        *,
        steps_per_epoch: int | None = None,
    ) -> EpochAnswer | None:
        """The rate of `epoch`, from the metrics observed at the end of the epoch before (`{}`
        for epoch 0, None when not known): the service's, after any buffered reports; during
        an outage the local engine's (on_error="local") or None (hold)."""
        _track(self)
        if self.on_error == "raise":
            self._ensure_registered()
            return self.client.decide(
                self.job, epoch, metrics=metrics, steps_per_epoch=steps_per_epoch
            )
        self._buffer(epoch, metrics, steps_per_epoch, end_only=False)
        try:
            decision = self._flush()
        except _UNANSWERED as error:
            self._warn_once(error)
            if self.on_error == "local":
                return self._answer_locally(epoch, metrics, steps_per_epoch)
            return None
        assert decision is not None
        if self.on_error == "local":
            self._follow(decision, metrics, steps_per_epoch)
        return decision

    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Report the metrics observed at the end of `epoch` when no decision follows it (the
        last epoch of a fit); buffered like a decision during an outage."""
        _track(self)
        if self.on_error == "raise":
            self._ensure_registered()
            self.client.report_epoch_end(self.job, epoch, metrics=metrics)
            return
        self._buffer(epoch, metrics, None, end_only=True)
        try:
            self._flush()
        except _UNANSWERED as error:
            self._warn_once(error)

    def finish(self, status: Literal["completed", "failed"]) -> None:
        """Report how the training ended, after any buffered reports. Never raises: the
        training is over either way (a failure is warned about)."""
        _training.discard(self)
        try:
            if self._pending:
                self._flush()
            if not self.breaker.allows(self._probe):
                raise ServiceDown("lrhub is still unreachable")
            self._ensure_registered()
            self.client.patch_job(self.job, JobPatch(status=status))
        except _UNANSWERED as error:
            warnings.warn(
                f"lrhub job {self.job!r}: could not report it {status} ({error})",
                RuntimeWarning,
                stacklevel=2,
            )

    def job_spec(self) -> dict[str, Any] | None:
        """The spec the service runs the job with, as it last described it (None before)."""
        return None if self._snapshot is None else self._snapshot.spec

    def ask(self, request: Callable[[], ResultT]) -> ResultT:
        """Run `request` (a call of this run); a refusal that is no outage (only raise mode lets
        one through) reports the job failed before it propagates."""
        try:
            return request()
        except _UNANSWERED as error:
            if not is_outage(error):
                self.finish("failed")
            raise

    # -- internals -------------------------------------------------------------------------------

    def _register(self) -> Job:
        if self.schedule is None and self.spec is None:
            job = self.client.get_job(self.job)  # created by an orchestrator or operator
        else:
            job = self.client.put_job(
                self.job, schedule=self.schedule, spec=self.spec, scale=self.scale,
                labels=self.labels,
            )  # fmt: skip
            if job.token is None:
                self._check_conflict(job)
        self._snapshot = JobSnapshot.of(job)
        self.registered = True
        return job

    def _check_conflict(self, job: Job) -> None:
        """Warn (or raise) when an existing job runs another schedule than the one given."""
        problem = self._conflict(job)
        if problem is None:
            return
        message = (
            f"lrhub job {self.job!r} already exists with {problem}; it keeps its own schedule "
            "(use another job id for a new job, or PATCH the job to switch it)"
        )
        if self.on_conflict == "raise":
            raise JobConflict(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _conflict(self, job: Job) -> str | None:
        if self.spec is not None:
            if job.schedule.name is not None:
                return f"schedule {job.schedule.name!r}, not the spec given"
            try:
                same = parse_spec(self.spec) == parse_spec(job.spec)
            except ScheduleError:
                same = False
            return None if same else "another spec than the one given"
        assert self.schedule is not None
        name, _, version = self.schedule.partition("@")
        if job.schedule.name != name:
            return f"schedule {job.schedule.name or 'an inline spec'!r}, not {name!r}"
        if version and str(job.schedule.version) != version:
            return f"version {job.schedule.version} of {name!r}, not version {version}"
        return None

    def _ensure_registered(self) -> None:
        if not self.registered:
            self._register()

    def _buffer(
        self,
        epoch: int,
        metrics: Mapping[str, float] | None,
        steps_per_epoch: int | None,
        *,
        end_only: bool,
    ) -> None:
        dropped_oldest = self._pending.add(epoch, metrics, steps_per_epoch, end_only=end_only)
        if dropped_oldest and self._pending.dropped == 1:
            warnings.warn(
                f"lrhub job {self.job!r}: more than {self._pending.capacity} reports missed; "
                "dropping the oldest, so the service will see a gap and its plateau state "
                "will not end as without the outage",
                RuntimeWarning,
                stacklevel=4,
            )

    def _probe(self, timeout: float) -> bool:
        return self.client.probe(timeout=timeout)

    def _flush(self) -> EpochAnswer | None:
        """Send the buffered reports in order, unless the breaker holds them back."""
        if not self.breaker.allows(self._probe):
            raise ServiceDown("lrhub failed recently and does not answer its probe yet")
        try:
            self._ensure_registered()
            decision = self._pending.flush(self.client, self.job)
        except LrhubError as error:
            if is_outage(error):
                self.breaker.trip()
            raise
        self._failing = False
        return decision

    def _answer_locally(
        self, epoch: int, metrics: Mapping[str, float] | None, steps_per_epoch: int | None
    ) -> EpochAnswer | None:
        if self._snapshot is None:
            return None  # the service never described the job: nothing to compute from
        try:
            local = answer_locally(self._snapshot, epoch, metrics, steps_per_epoch)
        except ScheduleError as error:
            warnings.warn(
                f"lrhub job {self.job!r}: no local rate for epoch {epoch} ({error}); holding",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        self._snapshot = local.snapshot
        return local.answer

    def _follow(
        self,
        decision: EpochAnswer,
        metrics: Mapping[str, float] | None,
        steps_per_epoch: int | None,
    ) -> None:
        """Keep the snapshot in step with the service's answers: the service wins."""
        if self._snapshot is None:
            return
        local: LocalAnswer | None
        try:
            local = answer_locally(self._snapshot, decision.epoch, metrics, steps_per_epoch)
        except ScheduleError:
            local = None
        if local is not None and (
            local.answer.learning_rate,
            local.answer.step_learning_rates,
            local.answer.state,
        ) == (decision.learning_rate, decision.step_learning_rates, decision.state):
            self._snapshot = local.snapshot
            return
        # The job changed (PATCH, newer schedule version, rewind): read it again.
        try:
            self._snapshot = JobSnapshot.of(self.client.get_job(self.job))
        except LrhubError:
            self._snapshot = replace(self._snapshot, state=decision.state)

    def _guarded(self, action: Callable[[], Job]) -> Job | None:
        """Run a service call; on failure warn and go on, or raise, as configured."""
        try:
            result = action()
        except _UNANSWERED as error:
            if self.on_error == "raise":
                raise
            if is_outage(error):
                self.breaker.trip()
            self._warn_once(error)
            return None
        self._failing = False
        return result

    def _warn_once(self, error: LrhubError) -> None:
        if self._failing:
            return
        self._failing = True
        if self.on_error == "local":
            fallback = (
                "computing the rate locally from the job's last spec and state (holding the "
                "current rate until the service has described the job)"
            )
        else:
            fallback = (
                "holding the current learning rate; the rates of the epochs until the service "
                "answers stay the held rate"
            )
        warnings.warn(
            f"lrhub job {self.job!r}: {error}; {fallback}. The metrics of the epochs it misses "
            f"are buffered (up to {self._pending.capacity}) and replayed in order when it "
            "answers again",
            RuntimeWarning,
            stacklevel=4,
        )


# The runs that reported an epoch and have not finished: what a crash leaves unfinished.
_training: weakref.WeakSet[JobRun] = weakref.WeakSet()


def _track(run: JobRun) -> None:
    """Count `run` as training; the first time, put `_report_crash` in front of sys.excepthook
    (chained: a hook installed before, such as an error reporter's, still runs). `finish` takes
    the run out again, so a run reported failed elsewhere is not reported twice (docs/design.md,
    "A crash")."""
    global _previous_excepthook
    if _previous_excepthook is None:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _report_crash
    _training.add(run)


def _report_crash(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """`sys.excepthook`: an uncaught exception ends the process; report its runs failed first.
    The net under every adapter, beside `RemoteScheduler.__exit__` (docs/design.md, "A crash")."""
    for run in list(_training):
        run.finish("failed")
    assert _previous_excepthook is not None
    _previous_excepthook(kind, error, traceback)


_previous_excepthook: (
    Callable[[type[BaseException], BaseException, TracebackType | None], Any] | None
) = None
