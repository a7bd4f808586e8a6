"""`RemoteScheduler`: a PyTorch learning-rate scheduler whose rates come from lrhub.

Importing this module imports torch; `import lrhub.client` does not. The conversation with the
service (outage buffer, `on_error`, circuit breaker, lifecycle) is `lrhub.client.training.JobRun`;
this module maps torch's scheduler protocol onto it. The Lightning and Transformers callbacks
drive a `RemoteScheduler` on the trainer's optimizer.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Unpack

import torch

from lrhub.schedules import ScheduleError, needs_steps_per_epoch, parse_spec

from .models import Applied, EpochAnswer
from .training import (
    JobOptionKeywords,
    JobRun,
    UsesJobRun,
    ending_status,
    loss_of,
    reported_metrics,
)
from .training.distributed import Ranks
from .training.momentum import ScheduledMomentum
from .training.run import MONITOR_PLACEHOLDER

#: What `step()` takes as the metrics of the epoch that just ended.
Metrics = Mapping[str, Any] | float | torch.Tensor | None

STATE_VERSION = 1


class RemoteScheduler(UsesJobRun):
    """A `torch.optim.lr_scheduler`-style scheduler that asks an lrhub job for every rate.

    Use it as torch's own: build it after the optimizer (the optimizer then holds epoch 0's
    rate) and call `step(...)` after each epoch's training and validation, or after each batch
    with `per_step=True`. `step(metrics)` reports the metrics observed at the end of the epoch
    that just ended and sets the next epoch's rate, as `ReduceLROnPlateau.step(val_loss)` does:
    `metrics` is a mapping (`{"val_loss": 0.4, "loss": 0.5}`) or one number, reported under
    `monitor`.

    Args:
        optimizer: the optimizer whose parameter groups get the rates. Every group keeps its
            ratio to the first group's initial rate (`initial_lr`, as torch's schedulers record
            it): the first group gets the service's rate, group i that rate times
            `initial_lr_i / initial_lr_0`.
        per_step: `step()` is called after every batch: each epoch's per-step rates come in one
            request (none per batch). Needs `steps_per_epoch`. The metrics given to the step
            that ends an epoch (its last batch's) are that epoch's.
        steps_per_epoch: the batches of one epoch (per_step=True).
        epochs: the number of epochs the training runs, when known: the `step()` after the last
            one reports its metrics alone and the job `completed` (`failed` when the reported
            `loss` is not finite). Without it, call `finish()` (or use the scheduler as a
            context manager) when training ends.
        monitor: the name a bare number given to `step()` is reported under; defaults to the
            `monitor` of the job's spec (a plateau), else `"loss"`.
        reduce_metrics: under `torch.distributed`, report each metric's mean over the ranks
            instead of rank 0's own (every rank then passes its metrics to `step()`).
        **options: the job and what to do when lrhub cannot answer (`job`, `schedule` or `spec`,
            `on_error`, ...), as `lrhub.client.training.JobOptionKeywords` documents them (hold
            keeps every group's current rate).

    `should_stop` turns True when the service answers `stop` (an operator stopped the job, or a
    plateau's `stop_patience` ran out): break out of the training loop. `state_dict()` holds
    what is needed to continue the job's epoch numbering (the plateau state lives in the
    service); `load_state_dict()` asks the service again for the epoch the checkpoint was taken
    in (an idempotent request) and sets its rate.

    Distributed training (an initialized `torch.distributed` default group when the scheduler
    is built: torchrun, DDP, FSDP, Accelerate, Lightning's strategies) is one lrhub job: build
    the scheduler and call `step()` on every rank at the same points; only rank 0 talks to
    the service and every rank gets its answer (rates, momentum, `should_stop`) before the
    next step, so the service sees one decision per interval and all ranks train alike.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        per_step: bool = False,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
        monitor: str | None = None,
        reduce_metrics: bool = False,
        **options: Unpack[JobOptionKeywords],
    ) -> None:
        if per_step and (steps_per_epoch is None or steps_per_epoch < 1):
            raise ValueError(
                "RemoteScheduler(per_step=True) needs steps_per_epoch, the batches of one epoch"
            )
        if epochs is not None and epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {epochs}")
        self.run = JobRun.for_adapter("RemoteScheduler", **options)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        #: Each group's initial rate, as torch's schedulers name it.
        self.base_lrs: list[float] = [float(g["initial_lr"]) for g in optimizer.param_groups]
        if self.base_lrs[0] == 0:
            raise ValueError(
                "RemoteScheduler keeps every parameter group's ratio to the first group's "
                "initial rate, which is 0; give the first group a nonzero lr"
            )
        self.per_step = per_step
        self.steps_per_epoch = steps_per_epoch if per_step else None
        self.epochs = epochs
        self._monitor = monitor
        #: The job epoch whose rate the optimizer holds (torch's name).
        self.last_epoch = 0
        #: The batches of `last_epoch` already stepped (per_step).
        self.step_in_epoch = 0
        #: True once the service answered `stop`.
        self.should_stop = False
        #: True once the job's end was reported (`finish`, or the last of `epochs`).
        self.finished = False
        # The metrics the current epoch's rate was asked with (resume asks with them again).
        self._asked_with: dict[str, float] | None = {}
        self._step_rates: list[float] | None = None
        self._last_loss: float | None = None
        # Whether the interval's first optimizer step ran (`before_optimizer_step`).
        self._interval_started = False
        self._overran = False
        # What the interval's optimizer steps trained with, as `optimizer_stepped` saw it.
        self._trained: Applied | None = None
        self._trained_elsewhere = False
        self._momentum = ScheduledMomentum(optimizer)
        #: The process group this scheduler trains in; rank 0 alone talks to lrhub.
        self.ranks = Ranks.detect()
        self.reduce_metrics = reduce_metrics
        with self.run.single_attempts():
            self._apply(self.ranks.share(self._first_answer))

    def get_last_lr(self) -> list[float]:
        """The rate of every parameter group, as the scheduler last set (or held) it."""
        return list(self._last_lr)

    def step(self, metrics: Metrics = None, *, applied: Applied | None = None) -> None:
        """After an epoch (per_step: a batch): report the epoch's metrics when it ended and set
        the rate of what comes next. `applied`: what the epoch's last step trained with, when
        the caller read it itself (by default `applied()`, read from the optimizer now)."""
        if self.finished:
            return
        if self.per_step:
            assert self.steps_per_epoch is not None
            self.step_in_epoch += 1
            if self.step_in_epoch < self.steps_per_epoch:
                self._set_step_rate()
                return
            self.step_in_epoch = 0
        self.end_interval(metrics, applied=applied)

    def end_interval(self, metrics: Metrics = None, *, applied: Applied | None = None) -> None:
        """Report the metrics of the epoch (interval) that just ended and set the next one's
        rate, whatever its steps so far: what `step()` does after an epoch's last batch. The
        Lightning and Transformers callbacks call it after each validation (evaluation), with
        what the interval `applied` (as `step`)."""
        if self.finished:
            return
        self.step_in_epoch = 0
        self._interval_started = False
        applied = applied or self._trained
        self._trained, self._trained_elsewhere = None, False
        reported = self._reported(metrics)
        ended = self.last_epoch
        if self.epochs is not None and ended + 1 >= self.epochs:
            self.finish(reported)
            self.last_epoch = ended + 1
            return
        applied = applied or self.applied()
        answer = self.ranks.share(
            lambda: self.run.ask(
                lambda: self.run.decide(ended + 1, reported, **self._steps(), applied=applied)
            )
        )
        self.last_epoch = ended + 1
        self._asked_with = reported
        self._apply(answer)

    def optimizer_stepped(self) -> None:
        """After an optimizer step inside a trainer: note what it trained with. The interval
        then reports its first step whose rate was not lrhub's (a drift another callback or the
        module made, even for one step), else its last step's."""
        if self._trained_elsewhere:
            return
        self._trained = self.applied()
        self._trained_elsewhere = self._trained.learning_rate != self._last_lr[0]

    def before_optimizer_step(self) -> None:
        """Set the rate of the optimizer step about to run (per_step): the interval's first
        step keeps the rate its decision set, every later one moves to the next step's rate.
        Past the interval's `steps_per_epoch` steps the last step's rate stays (warned once)."""
        if self.finished or not self.per_step:
            return
        if not self._interval_started:
            self._interval_started = True
            return
        self.step_in_epoch += 1
        self._set_step_rate()

    def finish(
        self,
        metrics: Metrics = None,
        *,
        status: Literal["completed", "failed"] | None = None,
        applied: Applied | None = None,
    ) -> None:
        """The training ended: report the current epoch's metrics (when given), what it
        `applied` (as `step`) and the job `completed` (`failed` when the last reported loss is
        not finite, or as `status` says). Only the first call reports; it never raises for the
        service's sake."""
        if self.finished:
            return
        self.finished = True
        reported = self._reported(metrics)
        if not self.ranks.leader:
            return
        if reported is not None:
            epoch, held = self.last_epoch, applied or self._trained or self.applied()
            self.run.ask(lambda: self.run.end_epoch(epoch, reported, applied=held))
        self.run.finish(status or ending_status(self._last_loss))

    def applied(self) -> Applied:
        """What the optimizer holds now, whoever set it: the first group's rate (and momentum,
        where the schedule sets one). Reported with the epoch's end, so the service can tell
        a rate it did not answer (drift)."""
        return Applied(
            learning_rate=float(self.optimizer.param_groups[0]["lr"]),
            momentum=self._momentum.held(),
        )

    def state_dict(self) -> dict[str, Any]:
        """What continues the job's epoch numbering after a restart (the service keeps the
        plateau state and history)."""
        return {
            "version": STATE_VERSION,
            "job": self.job,
            "last_epoch": self.last_epoch,
            "step_in_epoch": self.step_in_epoch,
            "interval_started": self._interval_started,
            "steps_per_epoch": self.steps_per_epoch,
            "asked_with": None if self._asked_with is None else dict(self._asked_with),
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "should_stop": self.should_stop,
            "finished": self.finished,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Continue from `state_dict()`: the same job's epoch numbering, and the rate the service
        decided for the epoch the checkpoint was taken in (asked again: the answer is the stored
        decision; during an outage the checkpoint's rates are kept)."""
        if state_dict.get("job") != self.job:
            raise ValueError(
                f"this RemoteScheduler runs lrhub job {self.job!r}, the state is of job "
                f"{state_dict.get('job')!r}; give the scheduler the checkpoint's job id"
            )
        if state_dict.get("steps_per_epoch") != self.steps_per_epoch:
            raise ValueError(
                f"the state was saved with steps_per_epoch={state_dict.get('steps_per_epoch')}, "
                f"this scheduler has {self.steps_per_epoch}"
            )
        self.last_epoch = int(state_dict["last_epoch"])
        self.step_in_epoch = int(state_dict["step_in_epoch"])
        # Saved after a step ran when absent (states of schedulers driven by step() alone).
        self._interval_started = bool(state_dict.get("interval_started", True))
        asked_with = state_dict["asked_with"]
        self._asked_with = None if asked_with is None else dict(asked_with)
        self.base_lrs = [float(rate) for rate in state_dict["base_lrs"]]
        self.should_stop = bool(state_dict["should_stop"])
        self.finished = bool(state_dict["finished"])
        self._set_rates(float(state_dict["_last_lr"][0]))
        if self.finished:
            return
        epoch, metrics = self.last_epoch, self._asked_with
        answer = self.ranks.share(
            lambda: self.run.ask(lambda: self.run.decide(epoch, metrics, **self._steps()))
        )
        if answer is not None:
            self._momentum.answered(answer)
            self._step_rates = answer.step_learning_rates
            self.should_stop = answer.stop
            if self._step_rates is None:
                self._set_rates(answer.learning_rate)
            else:
                self._set_step_rate()

    def __enter__(self) -> RemoteScheduler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Report the end: `failed` when an exception leaves the block (it goes on), at once and
        whoever catches it later; `sys.excepthook` would see it only if it ended the process,
        and then finds the job already reported (docs/design.md, "A crash")."""
        self.finish(status="failed" if exc_type is not None else None)

    # -- internals -------------------------------------------------------------------------------

    def _first_answer(self) -> EpochAnswer | None:
        self.run.start()
        self._refuse_unapplicable()
        return self.run.ask(lambda: self.run.decide(0, {}, **self._steps()))

    def _steps(self) -> dict[str, Any]:
        return {"steps_per_epoch": self.steps_per_epoch}

    def _reported(self, metrics: Metrics) -> dict[str, float] | None:
        """The metrics as the service takes them (their mean over ranks with
        `reduce_metrics`); None when none were given."""
        if metrics is None:
            return None
        if isinstance(metrics, Mapping):
            self._last_loss = loss_of(metrics)
            return self._reduced(reported_metrics(metrics))
        if isinstance(metrics, torch.Tensor | numbers.Real):
            name = self._monitor_name()
            # Averaged before it is named: only rank 0 knows the spec's monitor.
            value = self._reduced({"value": float(metrics)}).get("value", float(metrics))
            self._last_loss = loss_of({name: value})
            if name == MONITOR_PLACEHOLDER:  # named by the run before it is sent
                return {name: value} if math.isfinite(value) else {}
            return reported_metrics({name: value})
        raise TypeError(
            "RemoteScheduler.step() takes the epoch's metrics as a mapping of names to numbers "
            f"or one number, not {type(metrics).__name__}"
        )

    def _reduced(self, metrics: dict[str, float]) -> dict[str, float]:
        return self.ranks.mean(metrics) if self.reduce_metrics else metrics

    def _monitor_name(self) -> str:
        """The name a bare number is reported under: `monitor`, else the spec's; while the
        spec is not known (the service was down from the start) a placeholder that the run
        names once the service has described the job."""
        if self._monitor is not None:
            return self._monitor
        spec = self.run.job_spec() or self.run.spec
        if spec is None:
            return MONITOR_PLACEHOLDER
        return self.run.monitor() or "loss"

    def _apply(self, answer: EpochAnswer | None) -> None:
        """Set the rates of an answer; None (held during an outage) keeps the current ones."""
        if answer is None:
            self._step_rates = None
            self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
            return
        self.should_stop = self.should_stop or answer.stop
        self._momentum.answered(answer)
        self._step_rates = answer.step_learning_rates
        self._set_rates(
            answer.learning_rate if self._step_rates is None else self._step_rates[0]
        )  # fmt: skip

    def _set_step_rate(self) -> None:
        rates = self._step_rates
        if rates is not None and self.step_in_epoch < len(rates):
            self._set_rates(rates[self.step_in_epoch])
        elif rates is not None and not self._overran:
            self._overran = True
            warnings.warn(
                f"lrhub job {self.job!r}: epoch {self.last_epoch} runs more than its "
                f"steps_per_epoch={self.steps_per_epoch} optimizer steps; its last step's rate "
                "stays until the next decision",
                RuntimeWarning,
                stacklevel=3,
            )
        self._momentum.at_step(self.step_in_epoch)

    def _refuse_unapplicable(self) -> None:
        """Raise at the start of training for a spec this scheduler cannot apply: one counting
        steps (unit "step") without per_step, which would otherwise hold one rate per epoch."""
        spec = self.run.job_spec()
        if self.per_step or spec is None:
            return
        try:
            counts_steps = needs_steps_per_epoch(parse_spec(spec, stored=True))
        except ScheduleError:
            return  # the service refuses it with its own words at the first decision
        if counts_steps:
            self.finished = True
            self.run.finish("failed")
            raise ValueError(
                f'lrhub job {self.job!r} runs a spec that counts steps (unit "step"): give '
                "RemoteScheduler per_step=True and steps_per_epoch, and call step() after "
                "every batch, or use a spec counted in epochs"
            )

    def _set_rates(self, rate: float) -> None:
        """The first group gets `rate`, every other its ratio to the first's initial rate."""
        first = self.base_lrs[0]
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = rate if base == first else rate * (base / first)
        self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]
