"""`JobRun`: one training job's conversation with lrhub, free of any framework (see the package
docstring), and what the adapters built on it share."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, Unpack

from lrhub.schedules import ScheduleError, parse_spec

from .._sync import Client
from ..errors import JobConflict, LrhubError, ProblemError, ServiceDown, TransportError
from ..local_decisions import JobSnapshot, LocalAnswer, answer_locally
from ..models import Applied, EpochAnswer, Job, JobPatch
from ..outage import PendingEpochs, is_outage
from . import crashes
from .breaker import CircuitBreaker
from .options import JobOptionKeywords, JobOptions, RunOptionKeywords

ResultT = TypeVar("ResultT")

# What asking lrhub fails with: no answer (unreachable, breaker open) or a refusal; `on_error`,
# the buffer and the breaker deal with these. Not a `JobConflict`: the job exists with another
# schedule than the one given, which the caller hears of whatever `on_error` says.
_UNANSWERED = (TransportError, ProblemError, ServiceDown)

#: The name a bare number is reported under while the spec's `monitor` is not known yet (the
#: service never described the job): renamed before it is sent. No metric can have it.
MONITOR_PLACEHOLDER = "lrhub:monitor"


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
    """A training job as lrhub sees it, driven by a framework adapter; see `lrhub.client.training`.

    Args:
        job: the job id.
        **options: the other `JobOptionKeywords` (`client` defaults to one from `LRHUB_*`).
    """

    def __init__(self, job: str, **options: Unpack[RunOptionKeywords]) -> None:
        checked = JobOptions(job=job, **options)
        self.job = job
        self.schedule = checked.schedule
        self.spec = checked.spec
        self.labels = dict(checked.labels or {})
        self.scale = checked.scale
        self.on_error = checked.on_error
        self.on_conflict = checked.on_conflict
        self.client = checked.client or Client()
        self.max_pending = checked.max_pending
        # Its own copy: the breaker holds this run's outage state.
        breaker = checked.breaker
        self.breaker = replace(breaker, is_open=False) if breaker else CircuitBreaker()
        self.registered = False
        self._failing = False
        self._pending = PendingEpochs(self.max_pending)
        # The job as the service last described it (local mode): what local answers start from.
        self._snapshot: JobSnapshot | None = None

    @classmethod
    def for_adapter(cls, adapter: str, **options: Unpack[JobOptionKeywords]) -> JobRun:
        """The run of a framework adapter's options: its job is `job`, else `LRHUB_JOB_ID`;
        `adapter` (its class name) is named in the error when there is neither."""
        checked = JobOptions(**options)  # a bad option is refused before a missing job id
        client = checked.client or Client()
        job = checked.job or client.job_id
        if not job:
            raise ValueError(f"{adapter} needs a job id: pass job=... or set LRHUB_JOB_ID")
        # Without `job`, the adapter's options are a JobRun's (a TypedDict with fewer keys).
        options.pop("job", None)
        run_options: RunOptionKeywords = options
        run_options["client"] = client
        return cls(job, **run_options)

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

    @contextmanager
    def single_attempts(self) -> Iterator[None]:
        """Calls inside make one attempt each, without the client's retry ladder: an adapter's
        construction then blocks about one `timeout` at most against a service that accepts
        connections and never answers (the breaker makes the calls after a failed one fail
        fast). The training's later calls retry as configured."""
        patient = self.client
        quick = replace(_ClientConfig.of(patient), max_retries=0).client()
        self.client = quick
        try:
            yield
        finally:
            self.client = patient
            quick.close()

    def monitor(self) -> str | None:
        """The metric the job's spec watches (its plateau's `monitor`), from the spec the
        service described or else the one given; None while neither is known."""
        spec = self.job_spec() or self.spec
        return None if spec is None else monitor_of(spec)

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
        applied: Applied | None = None,
    ) -> EpochAnswer | None:
        """The rate of `epoch`, from the metrics observed at the end of the epoch before (`{}`
        for epoch 0, None when not known) and what the optimizer `applied` during it: the
        service's, after any buffered reports; during an outage the local engine's
        (on_error="local") or None (hold)."""
        crashes.track(self)
        if self.on_error == "raise":
            self._ensure_registered()
            return self.client.decide(
                self.job,
                epoch,
                metrics=self._named(metrics),
                steps_per_epoch=steps_per_epoch,
                applied=applied,
            )
        self._buffer(epoch, metrics, steps_per_epoch, end_only=False, applied=applied)
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

    def end_epoch(
        self, epoch: int, metrics: Mapping[str, float], *, applied: Applied | None = None
    ) -> None:
        """Report the metrics observed at the end of `epoch` when no decision follows it (the
        last epoch of a fit), and what the optimizer `applied` during it; buffered like a
        decision during an outage."""
        crashes.track(self)
        if self.on_error == "raise":
            self._ensure_registered()
            self.client.report_epoch_end(
                self.job, epoch, metrics=self._named(metrics) or {}, applied=applied
            )
            return
        self._buffer(epoch, metrics, None, end_only=True, applied=applied)
        try:
            self._flush()
        except _UNANSWERED as error:
            self._warn_once(error)

    def finish(self, status: Literal["completed", "failed"]) -> None:
        """Report how the training ended, after any buffered reports. Never raises: the
        training is over either way (a failure is warned about)."""
        crashes.forget(self)
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
        applied: Applied | None,
    ) -> None:
        dropped_oldest = self._pending.add(
            epoch, metrics, steps_per_epoch, end_only=end_only, applied=applied
        )
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
            self._pending.name_metric(MONITOR_PLACEHOLDER, self.monitor() or "loss")
            decision = self._pending.flush(self.client, self.job)
        except LrhubError as error:
            if is_outage(error):
                self.breaker.trip()
            raise
        self._failing = False
        return decision

    def _named(self, metrics: Mapping[str, float] | None) -> dict[str, float] | None:
        """`metrics` with a bare number's placeholder named after the spec's monitor."""
        if metrics is None:
            return None
        name = self.monitor() or "loss"
        return {(name if key == MONITOR_PLACEHOLDER else key): v for key, v in metrics.items()}

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


def monitor_of(spec: Mapping[str, Any]) -> str | None:
    """The metric a spec watches: its own `monitor`, or the first one a nested spec has."""
    monitor = spec.get("monitor")
    if isinstance(monitor, str):
        return monitor
    for value in spec.values():
        nested = [value] if isinstance(value, Mapping) else value
        if isinstance(nested, list):
            for item in nested:
                found = monitor_of(item) if isinstance(item, Mapping) else None
                if found:
                    return found
    return None
