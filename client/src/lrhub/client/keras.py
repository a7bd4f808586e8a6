"""`RemoteLearningRate`: a Keras 3 callback that takes each epoch's learning rate from lrhub.

Importing this module imports keras; `import lrhub.client` does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from math import isfinite
from typing import Any, Literal, TypeVar

import keras
from keras.src import backend
from keras.src.utils import io_utils

from lrhub.schedules import ScheduleError, is_metric_name

from ._sync import Client
from .errors import LrhubError
from .local_decisions import JobSnapshot, LocalDecision, decide_locally
from .models import EpochAnswer, JsonObject
from .outage import DEFAULT_MAX_PENDING, PendingEpochs

ResultT = TypeVar("ResultT")

# The service's metric-name rule (docs/http-api.md); other log entries are not sent.


class RemoteLearningRate(keras.callbacks.Callback):  # type: ignore[misc]
    """Sets the optimizer's learning rate from an lrhub job at the start of every epoch.

    Args:
        job: the job id; defaults to `LRHUB_JOB_ID`.
        schedule: `"name"` or `"name@3"` to register the job with, or
        spec: an inline schedule spec (a dict). With neither, the job must already exist.
        labels: labels of the job when it is created.
        scale: factor applied by the service to the schedule's rate.
        per_step: also set the rate before every batch, from the per-step rates the service
            answers for the epoch (one request per epoch, none per batch).
        on_error: what to do when the service cannot answer (warns once per outage):
            `"hold"` keeps the current rate; `"local"` computes the rate on the client with the
            shared engine from the job's last spec and state the service sent, as the service
            would (a PATCH made during the outage is not seen; before any answer it holds);
            `"raise"` stops training with the error. With hold and local the metrics of every
            epoch the service could not decide (unreachable, 5xx, 429) are buffered and, once
            it answers again, replayed in order before the current epoch, so the job's plateau
            state and history end as if nothing had happened. The rates applied during the
            outage stay applied: with hold they were the held rate, not what the service decides
            on replay. At most `max_pending` epochs are buffered; beyond, the oldest are dropped
            and the service sees a gap (decided from its state as it is).
        verbose: 1 prints the rate and the service's reason every epoch.
        max_pending: the bound of that buffer, in epochs.
        client: the `Client` to use; defaults to one configured from `LRHUB_*` variables. Its
            retries come before `on_error`: `Client(max_retries=0)` holds at once in an outage.

    The job is registered idempotently (a restarted process gets its existing job back). Each epoch
    sends the previous epoch's logs as metrics: `{}` for epoch 0, `null` (not known) for the first
    epoch of a fit resumed with `initial_epoch`. `logs["learning_rate"]` is written at epoch end so
    History, CSVLogger and TensorBoard record it, and `model.stop_training` is set when the service
    answers `stop`.
    """

    def __init__(
        self,
        job: str | None = None,
        schedule: str | None = None,
        spec: JsonObject | None = None,
        labels: Mapping[str, str] | None = None,
        scale: float = 1.0,
        per_step: bool = False,
        on_error: Literal["hold", "local", "raise"] = "hold",
        verbose: int = 1,
        client: Client | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        super().__init__()
        if on_error not in ("hold", "local", "raise"):
            raise ValueError(f'on_error must be "hold", "local" or "raise", not {on_error!r}')
        if schedule is not None and spec is not None:
            raise ValueError("give RemoteLearningRate a schedule or a spec, not both")
        self.client = client or Client()
        job_id = job or self.client.job_id
        if not job_id:
            raise ValueError("RemoteLearningRate needs a job id: pass job=... or set LRHUB_JOB_ID")
        self.job = job_id
        self.schedule = schedule
        self.spec = spec
        self.labels = dict(labels or {})
        self.scale = scale
        self.per_step = per_step
        self.on_error = on_error
        self.verbose = verbose
        self._registered = False
        self._failing = False
        self._pending = PendingEpochs(max_pending)
        # The job as the service last described it (local mode): what local decisions start from.
        self._snapshot: JobSnapshot | None = None
        self._steps_per_epoch: int | None = None
        self._step_rates: list[float] | None = None
        # (epoch, metrics) of the last finished epoch, sent with the next epoch's request.
        self._last_logs: tuple[int, dict[str, float]] | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        for optimizer in self._optimizers():
            _refuse_schedule_object(optimizer)
        if self.per_step:
            steps = self.params.get("steps")
            if not steps:
                raise ValueError(
                    "RemoteLearningRate(per_step=True) needs the number of steps per epoch; "
                    "pass steps_per_epoch to fit() or use a dataset of known length"
                )
            self._steps_per_epoch = int(steps)
        self._guarded(self._register)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._step_rates = None
        decision = self._rate_for(epoch)
        if decision is None:
            return
        self._set_rate(decision.learning_rate)
        if self.per_step:
            self._step_rates = decision.step_learning_rates
        if self.verbose > 0:
            io_utils.print_msg(
                f"\nEpoch {epoch + 1}: RemoteLearningRate setting learning rate to "
                f"{decision.learning_rate} ({decision.reason})."
            )
        if decision.stop:
            self.model.stop_training = True

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        rates = self._step_rates
        if rates is None or batch >= len(rates):
            return
        # Each assignment is an eager variable write: skip those that would write the rate the
        # previous batch already set.
        if batch == 0 or rates[batch] != rates[batch - 1]:
            self._set_rate(rates[batch])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        self._last_logs = (epoch, _metrics(logs))
        logs["learning_rate"] = float(backend.convert_to_numpy(self._optimizers()[0].learning_rate))

    def _register(self) -> None:
        if self.schedule is None and self.spec is None:
            job = self.client.get_job(self.job)  # created by an orchestrator or operator
        else:
            job = self.client.put_job(
                self.job,
                schedule=self.schedule,
                spec=self.spec,
                scale=self.scale,
                labels=self.labels,
            )
        self._snapshot = JobSnapshot.of(job)
        self._registered = True

    def _rate_for(self, epoch: int) -> EpochAnswer | None:
        """The service's decision for `epoch` after any buffered ones, or the fallback's."""
        metrics = self._metrics_before(epoch)
        if self.on_error != "raise":
            self._buffer(epoch, metrics)
        try:
            if not self._registered:
                self._register()
            if self.on_error == "raise":
                decision = self.client.decide(
                    self.job, epoch, metrics=metrics, steps_per_epoch=self._steps_per_epoch
                )
            else:
                decision = self._flush_pending()
        except LrhubError as error:
            if self.on_error == "raise":
                raise
            self._warn_once(error)
            if self.on_error == "local":
                return self._decide_locally(epoch, metrics)
            return None
        self._failing = False
        if self.on_error == "local":
            self._follow(decision, metrics)
        return decision

    def _buffer(self, epoch: int, metrics: Mapping[str, float] | None) -> None:
        dropped_oldest = self._pending.add(epoch, metrics, self._steps_per_epoch)
        if dropped_oldest and self._pending.dropped == 1:
            warnings.warn(
                f"lrhub job {self.job!r}: more than {self._pending.capacity} epochs missed; "
                "dropping the oldest, so the service will see a gap and its plateau state "
                "will not end as without the outage",
                RuntimeWarning,
                stacklevel=4,
            )

    def _flush_pending(self) -> EpochAnswer:
        replayed = len(self._pending) - 1
        decision = self._pending.flush(self.client, self.job)
        if replayed and self.verbose > 0:
            io_utils.print_msg(
                f"\nRemoteLearningRate: lrhub answers again; replayed the metrics of {replayed} "
                "epochs it missed"
            )
        return decision

    def _decide_locally(
        self, epoch: int, metrics: Mapping[str, float] | None
    ) -> EpochAnswer | None:
        if self._snapshot is None:
            return None  # the service never described the job: nothing to compute from
        try:
            local = decide_locally(self._snapshot, epoch, metrics, self._steps_per_epoch)
        except ScheduleError as error:
            warnings.warn(
                f"lrhub job {self.job!r}: no local rate for epoch {epoch} ({error}); holding",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        self._snapshot = local.snapshot
        return local.answer

    def _follow(self, decision: EpochAnswer, metrics: Mapping[str, float] | None) -> None:
        """Keep the snapshot in step with the service's answers: the service wins."""
        assert self._snapshot is not None
        local: LocalDecision | None
        try:
            local = decide_locally(self._snapshot, decision.epoch, metrics, self._steps_per_epoch)
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

    def _metrics_before(self, epoch: int) -> dict[str, float] | None:
        if self._last_logs is not None and self._last_logs[0] == epoch - 1:
            return self._last_logs[1]
        # Epoch 0 observed nothing; a fit resumed at a later epoch does not know the logs before.
        return {} if epoch == 0 else None

    def _guarded(self, action: Callable[[], ResultT]) -> ResultT | None:
        """Run a service call; on failure warn and go on, or raise, as configured."""
        try:
            result = action()
        except LrhubError as error:
            if self.on_error == "raise":
                raise
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

    def _optimizers(self) -> list[Any]:
        optimizer = self.model.optimizer
        return list(getattr(optimizer, "optimizers", None) or [optimizer])

    def _set_rate(self, rate: float) -> None:
        # The optimizer's rate variable itself: its `assign` skips the setter's checks, which
        # cost a quarter of each per-batch write (88 against 64 us measured).
        for optimizer in self._optimizers():
            optimizer.learning_rate.assign(rate)


def _refuse_schedule_object(optimizer: Any) -> None:
    # Keras keeps a schedule object in `_learning_rate` and then refuses to set the rate.
    if isinstance(
        getattr(optimizer, "_learning_rate", None),
        keras.optimizers.schedules.LearningRateSchedule,
    ):
        raise ValueError(
            f"RemoteLearningRate sets the learning rate itself, but optimizer {optimizer.name!r} "
            "was built with a LearningRateSchedule object; build it with a float learning_rate "
            "and put the schedule in lrhub (per_step=True gives per-step rates)"
        )


def _metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """The epoch's logs the service accepts: finite numbers under valid names."""
    metrics: dict[str, float] = {}
    for name, value in logs.items():
        if name == "learning_rate" or not is_metric_name(name):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if isfinite(number):
            metrics[name] = number
    return metrics
