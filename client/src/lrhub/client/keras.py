"""`RemoteLearningRate`: a Keras 3 callback that takes each epoch's learning rate from lrhub.

Importing this module imports keras; `import lrhub.client` does not. The conversation with the
service (outage buffer, `on_error`, circuit breaker, lifecycle) is `lrhub.client.training.JobRun`;
this module maps Keras's hooks onto it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Unpack

import keras
import numpy as np
from keras.src import backend
from keras.src.utils import io_utils

from .models import Applied, EpochAnswer
from .training import (
    JobOptionKeywords,
    JobRun,
    UsesJobRun,
    ending_status,
    loss_of,
    reported_metrics,
)
from .training.run import ResultT


class RemoteLearningRate(keras.callbacks.Callback, UsesJobRun):  # type: ignore[misc]
    """Sets the optimizer's learning rate from an lrhub job at the start of every epoch.

    Args:
        per_step: also set the rate before every batch, from the per-step rates the service
            answers for the epoch (one request per epoch, none per batch).
        verbose: 1 prints the rate and the service's reason every epoch.
        **options: the job and what to do when lrhub cannot answer (`job`, `schedule` or `spec`,
            `on_error`, ...), as `lrhub.client.training.JobOptionKeywords` documents them.

    When each epoch ends the callback sends its logs as metrics and gets the next epoch's rate
    in the same request (the last epoch of a fit sends its logs alone), so a process killed at
    any point after an epoch's end loses nothing: a fit resumed by `BackupAndRestore` or with
    `initial_epoch` gets exactly the rates of an uninterrupted run. List `RemoteLearningRate`
    before `BackupAndRestore` or `ModelCheckpoint`, so an epoch is reported before it is saved.
    A second `fit()` with the same callback continues the job's epochs (job epoch = the epochs
    trained so far + Keras's epoch), unless it starts at an `initial_epoch` of its own, which is
    then the job's epoch. When training ends the job is reported `completed` (`failed` when the
    last loss is not finite). `logs["learning_rate"]` is written at epoch end so History,
    CSVLogger and TensorBoard record it, and `model.stop_training` is set when the service
    answers `stop`. The callback can be deep-copied and pickled (KerasTuner copies its
    callbacks): the copy makes its own `Client` with the same URL, token, timeout and retries.

    A schedule that sets momentum (`one_cycle`, `cyclic` with `cycle_momentum`) sets the
    optimizer's `beta_1` (Adam family) or `momentum` (SGD, RMSprop, built with a non-zero
    momentum) where the train step reads it at every step: `run_eagerly=True`, or the torch
    backend without `jit_compile`. A compiled train step has the value baked in, so there the
    first answer with a momentum raises before any batch trains, as does an optimizer without
    one; give the spec `cycle_momentum=false` to train with the optimizer's own momentum.
    """

    def __init__(
        self, *, per_step: bool = False, verbose: int = 1, **options: Unpack[JobOptionKeywords]
    ) -> None:
        super().__init__()
        self.run = JobRun.for_adapter("RemoteLearningRate", **options)
        self.per_step = per_step
        self.verbose = verbose
        self._steps_per_epoch: int | None = None
        self._step_rates: list[float] | None = None
        self._step_momentums: list[float] | None = None
        # Job epoch = Keras epoch + offset: a second fit continues the job.
        self._offset = 0
        self._next_job_epoch = 0  # the job epoch after the last one this callback trained
        self._fit_began = False
        self._fitted_model: int | None = None  # id() of the model of the previous fit
        # The answer asked at the end of the epoch before, for `_asked` (None: held).
        self._asked: int | None = None
        self._next: EpochAnswer | None = None
        # The rate this callback last wrote (float32, as the optimizer holds it).
        self._applied: float | None = None
        self._warned_other_setter = False
        # The job's last epoch when this callback registered it: another training's, if any.
        self._job_epochs_before: int | None = None
        self._last_loss: float | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # Every refusal comes before anything is registered.
        for optimizer in self._optimizers():
            _refuse_unsettable_rate(optimizer)
        if self.per_step:
            steps = self.params.get("steps")
            if not steps:
                raise ValueError(
                    "RemoteLearningRate(per_step=True) needs the number of steps per epoch; "
                    "pass steps_per_epoch to fit() or use a dataset of known length"
                )
            if int(getattr(self.model, "steps_per_execution", 1) or 1) > 1:
                raise ValueError(
                    "RemoteLearningRate(per_step=True) cannot set per-step rates with "
                    f"steps_per_execution={self.model.steps_per_execution}: Keras calls the "
                    "batch hook once per execution; compile with steps_per_execution=1 or use "
                    "per_step=False"
                )
            self._steps_per_epoch = int(steps)
        self._fit_began = False
        self._applied = None
        if not self.run.registered:
            job = self.run.start()
            self._job_epochs_before = None if job is None else job.last_epoch

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not self._fit_began:
            self._begin_fit(epoch)
        self._check_other_setters()
        job_epoch = epoch + self._offset
        self._step_rates = None
        if self._asked == job_epoch:
            decision = self._next
        else:
            metrics: dict[str, float] | None = {} if job_epoch == 0 else None
            decision = self._ask(lambda: self.run.decide(job_epoch, metrics, **self._steps()))
        self._asked, self._next = None, None
        if decision is None:
            return
        self._set_rate(decision.learning_rate)
        self._step_momentums = None
        if decision.momentum is not None:
            self._set_momentum(decision.momentum)
            self._step_momentums = decision.step_momentums if self.per_step else None
        if self.per_step:
            self._step_rates = decision.step_learning_rates
        if self.verbose > 0:
            where = f" (job epoch {job_epoch})" if self._offset else ""
            io_utils.print_msg(
                f"\nEpoch {epoch + 1}: RemoteLearningRate setting learning rate to "
                f"{decision.learning_rate}{where} ({decision.reason})."
            )
        if decision.stop:
            self.model.stop_training = True

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        rates = self._step_rates
        if rates is None or batch >= len(rates):
            return
        # Each assignment is an eager variable write: skip those that would write the rate
        # already set (by the batch before, or by on_epoch_begin for batch 0).
        if np.float32(rates[batch]) != self._applied:
            self._set_rate(rates[batch])
        momentums = self._step_momentums
        if momentums is not None and batch < len(momentums):
            self._set_momentum(momentums[batch])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        current = self._current_rate()
        self._check_other_setters(current)
        job_epoch = epoch + self._offset
        metrics = reported_metrics(logs)
        self._last_loss = loss_of(logs)
        logs["learning_rate"] = current
        # What this epoch's last batch trained with, whoever set it: the service tells drift.
        applied = Applied(learning_rate=logs["learning_rate"])
        self._next_job_epoch = job_epoch + 1
        total = self.params.get("epochs") if self.params else None
        if self.model.stop_training or (total is not None and epoch + 1 >= total):
            self._ask(lambda: self.run.end_epoch(job_epoch, metrics, applied=applied))
            return
        # The next epoch's rate, from this epoch's metrics: they reach the service now.
        self._asked = job_epoch + 1
        self._next = self._ask(
            lambda: self.run.decide(job_epoch + 1, metrics, **self._steps(), applied=applied)
        )
        if self._next is not None and self._next.stop:
            self.model.stop_training = True  # stop now, before an epoch the service refused

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.run.finish(ending_status(self._last_loss))

    # -- internals -------------------------------------------------------------------------------

    def _begin_fit(self, epoch: int) -> None:
        """Map this fit's epochs onto the job's: a fit from epoch 0 after an earlier one
        continues the job; one with its own initial_epoch (or BackupAndRestore's) uses it."""
        self._fit_began = True
        continued = epoch == 0 and self._next_job_epoch > 0
        self._offset = self._next_job_epoch if continued else 0
        model = id(self.model)
        if continued and self._fitted_model not in (None, model):
            warnings.warn(
                f"lrhub job {self.job!r}: another model continues this job at epoch "
                f"{self._offset}; give each model its own job id (or RemoteLearningRate) to "
                "start a new job",
                RuntimeWarning,
                stacklevel=3,
            )
        self._fitted_model = model
        before = self._job_epochs_before
        if epoch == 0 and not continued and before is not None and before > 0:
            warnings.warn(
                f"lrhub job {self.job!r} has epochs up to {before} already, and this fit starts "
                "it over at epoch 0 (its later epochs are superseded as they are decided "
                "again). If another training (a tuner's trial, another run) used this job id, "
                "give each its own job id",
                RuntimeWarning,
                stacklevel=3,
            )

    def _ask(self, request: Callable[[], ResultT]) -> ResultT:
        return self.run.ask(request)

    def _steps(self) -> dict[str, Any]:
        return {"steps_per_epoch": self._steps_per_epoch}

    def _check_other_setters(self, current: float | None = None) -> None:
        """Warn once when the rate (`current`, read when not given) is not the one this
        callback set: another callback (ReduceLROnPlateau, LearningRateScheduler) sets it too,
        and the two fight."""
        if self._applied is None or self._warned_other_setter:
            return
        if current is None:
            current = self._current_rate()
        if current != self._applied:
            self._warned_other_setter = True
            warnings.warn(
                f"lrhub job {self.job!r}: another callback changed the learning rate "
                f"RemoteLearningRate set ({self._applied} became {current}); "
                "remove ReduceLROnPlateau or LearningRateScheduler from this fit, lrhub's "
                "schedule decides the rate",
                RuntimeWarning,
                stacklevel=3,
            )

    def _current_rate(self) -> float:
        return float(backend.convert_to_numpy(_rate_owner(self._optimizers()[0]).learning_rate))

    def _optimizers(self) -> list[Any]:
        optimizer = self.model.optimizer
        return list(getattr(optimizer, "optimizers", None) or [optimizer])

    def _set_rate(self, rate: float) -> None:
        # The optimizer's rate variable itself: its `assign` skips the setter's checks, which
        # cost a quarter of each per-batch write (88 against 64 us measured).
        for optimizer in self._optimizers():
            _assign(_rate_owner(optimizer).learning_rate, rate)
        self._applied = float(np.float32(rate))

    def _set_momentum(self, momentum: float) -> None:
        """Set `beta_1` or `momentum` as the schedule says, or refuse (see the class doc)."""
        eager = self.model.run_eagerly or (
            keras.backend.backend() == "torch" and not self.model.jit_compile
        )
        for optimizer in self._optimizers():
            owner = _rate_owner(optimizer)
            name = _momentum_attribute(owner)
            if not eager:
                raise ValueError(
                    f"lrhub job {self.job!r}: the schedule sets momentum, which a compiled "
                    f"Keras train step cannot change ({owner.name!r} has its {name} baked in); "
                    "compile with run_eagerly=True or give the spec cycle_momentum=false"
                )
            setattr(owner, name, float(momentum))


def _assign(variable: Any, value: float) -> None:
    """Write `value` into a Keras variable. On TensorFlow, into the `tf.Variable` underneath:
    Keras's `assign` converts the value to a tensor and checks its shape first, which inside a
    per-step fit made each batch's write cost 155 to 205 us against 105 us."""
    if backend.backend() == "tensorflow":
        variable.value.assign(value, read_value=False)
    else:
        variable.assign(value)


def _rate_owner(optimizer: Any) -> Any:
    """The optimizer that holds the rate: a LossScaleOptimizer's (mixed precision) inner one."""
    while isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def _momentum_attribute(optimizer: Any) -> str:
    """Where the optimizer keeps the momentum a schedule sets: `beta_1` (Adam family) or
    `momentum` (SGD, RMSprop); refuses one without, or one built with momentum 0, which
    Keras builds without momentum buffers."""
    if isinstance(getattr(optimizer, "beta_1", None), float | int):
        return "beta_1"
    momentum = getattr(optimizer, "momentum", None)
    if isinstance(momentum, float | int) and momentum != 0:
        return "momentum"
    raise ValueError(
        f"the schedule sets momentum, which optimizer {optimizer.name!r} "
        f"({type(optimizer).__name__}) cannot take: use an Adam-family optimizer, or SGD or "
        "RMSprop built with a non-zero momentum, or give the spec cycle_momentum=false"
    )


def _refuse_unsettable_rate(optimizer: Any) -> None:
    """Refuse optimizers whose rate this callback cannot set: built with a schedule object or
    a callable (also inside a LossScaleOptimizer)."""
    owner = _rate_owner(optimizer)
    rate = getattr(owner, "_learning_rate", None)
    wrapped = f" (inside LossScaleOptimizer {optimizer.name!r})" if owner is not optimizer else ""
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            f"RemoteLearningRate sets the learning rate itself, but optimizer {owner.name!r}"
            f"{wrapped} was built with a LearningRateSchedule object; build it with a float "
            "learning_rate and put the schedule in lrhub (per_step=True gives per-step rates)"
        )
    if not isinstance(rate, keras.Variable):
        raise ValueError(
            f"RemoteLearningRate sets the learning rate itself, but optimizer {owner.name!r}"
            f"{wrapped} was built with a callable learning_rate; build it with a float "
            "learning_rate and put the schedule in lrhub"
        )
