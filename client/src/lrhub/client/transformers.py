"""`RemoteLearningRate`: a Hugging Face Transformers `TrainerCallback` that takes the learning
rate from lrhub at every evaluation.

Importing this module imports transformers and torch; `import lrhub.client` does not. The rates
are set by a `lrhub.client.torch.RemoteScheduler` on the Trainer's optimizer, so parameter-group
ratios, `on_error`, the outage buffer, the stop signal and the job's lifecycle are the same.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Unpack

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .torch import RemoteScheduler
from .training import JobOptionKeywords, JobOptions


class RemoteLearningRate(TrainerCallback):
    """Sets the optimizer's learning rate from an lrhub job, deciding at every evaluation.

    Job epoch 0 is the rate training starts with; job epoch n + 1 is decided from the metrics
    of the n-th evaluation (`eval_loss`, ...), so with `eval_strategy="steps"` the rate changes
    every `eval_steps`. The decision is asked just before the next optimizer step, so the last
    evaluation's metrics are reported alone when training ends, with the job `completed`.

    Train with `lr_scheduler_type="constant"`: the Trainer still builds and steps its own
    scheduler, and the callback sets lrhub's rate just before every optimizer step, so any
    other type is overridden (and warned about). The rate written to the Trainer's logs
    (`logs["learning_rate"]`, hence `trainer.state.log_history`, TensorBoard, W&B) is lrhub's.
    When the service answers `stop`, `control.should_training_stop` is set. A distributed
    run (torchrun, `accelerate launch`) is one lrhub job: rank 0 alone talks to lrhub and
    every rank trains with its answer (`lrhub.client.torch.RemoteScheduler`).

    Args:
        monitor: as `lrhub.client.torch.RemoteScheduler` (a number metric is named after the
            spec's monitor; the Trainer reports a mapping, so `monitor` rarely matters).
        reduce_metrics: in a distributed run, report each metric's mean over the ranks instead
            of rank 0's (the Trainer's evaluation metrics are already gathered over all ranks).
        **options: the job and what to do when lrhub cannot answer (`job`, `schedule` or `spec`,
            `on_error`, ...), as `lrhub.client.training.JobOptionKeywords` documents them.
    """

    def __init__(
        self,
        *,
        monitor: str | None = None,
        reduce_metrics: bool = False,
        **options: Unpack[JobOptionKeywords],
    ) -> None:
        # Checked now; the scheduler is made of them when training starts (the optimizer exists).
        JobOptions(**options)
        self._options = options
        self._monitor = monitor
        self.reduce_metrics = reduce_metrics
        self.scheduler: RemoteScheduler | None = None
        # The last evaluation's metrics, reported before the next optimizer step (or at the end).
        self._evaluated: dict[str, Any] | None = None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        optimizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if optimizer is None:
            raise ValueError("RemoteLearningRate needs the Trainer's optimizer; none was given")
        if str(args.lr_scheduler_type) not in ("constant", "SchedulerType.CONSTANT"):
            warnings.warn(
                f"RemoteLearningRate sets the learning rate itself; the Trainer's "
                f"lr_scheduler_type={args.lr_scheduler_type!s} is overridden around every step "
                '(use lr_scheduler_type="constant")',
                RuntimeWarning,
                stacklevel=2,
            )
        if self.scheduler is None or self.scheduler.optimizer is not optimizer:
            steps = _steps_between_evaluations(args, state)
            self.scheduler = RemoteScheduler(
                optimizer,
                per_step=steps is not None,
                steps_per_epoch=steps,
                monitor=self._monitor,
                reduce_metrics=self.reduce_metrics,
                **self._options,
            )
        self._evaluated = None
        if state.global_step > 0:
            self._resume(state)

    def _resume(self, state: TrainerState) -> None:
        """Continue the job where `resume_from_checkpoint` continues the training: the
        Trainer's restored step counter gives the job epoch and its step, the decision of that
        epoch is asked again (a replay), and an evaluation the checkpoint was saved right after
        is reported before the next step, as it would have been."""
        scheduler = self.scheduler
        assert scheduler is not None
        every = scheduler.steps_per_epoch
        if every is None:
            return
        epoch, step = divmod(state.global_step, every)
        if step == 0:
            epoch, step = epoch - 1, every
            self._evaluated = _evaluation_at(state, state.global_step)
        resumed = {
            **scheduler.state_dict(),
            "last_epoch": epoch,
            "step_in_epoch": step - 1,
            "interval_started": True,
            "asked_with": None,  # a decided epoch: the service answers it as stored
        }
        scheduler.load_state_dict(resumed)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.scheduler is not None and metrics is not None:
            # `epoch` is the Trainer's progress counter, not a measurement.
            self._evaluated = {name: v for name, v in metrics.items() if name != "epoch"}

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        if self._evaluated is not None:
            metrics, self._evaluated = self._evaluated, None
            scheduler.end_interval(metrics)
        if scheduler.should_stop:
            control.should_training_stop = True
        # The rate of this optimizer step (a step-counted spec changes it at every one).
        scheduler.before_optimizer_step()
        self._restore_rates()

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # What this step trained with, read before the Trainer's scheduler and `on_step_end`
        # write the rates again: reported applied when the interval ends.
        if self.scheduler is not None:
            self.scheduler.optimizer_stepped()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._restore_rates()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if self.scheduler is None or logs is None or "learning_rate" not in logs:
            return
        # The Trainer reads the rate from its own scheduler: write lrhub's instead, in the logs
        # the next callbacks get and in the history entry the Trainer just made of them.
        rate = self.scheduler.get_last_lr()[0]
        logs["learning_rate"] = rate
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1]["learning_rate"] = rate

    def _restore_rates(self) -> None:
        """Put lrhub's rates back: the Trainer's own scheduler rewrites them at every step."""
        if self.scheduler is None:
            return
        groups = self.scheduler.optimizer.param_groups
        for group, rate in zip(groups, self.scheduler.get_last_lr(), strict=True):
            group["lr"] = rate

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.scheduler is not None:
            self.scheduler.finish(self._evaluated)
            self._evaluated = None


def _steps_between_evaluations(args: TrainingArguments, state: TrainerState) -> int | None:
    """The optimizer steps from one evaluation to the next (or of the whole training without
    evaluation): the steps of one job epoch. None when they are not known."""
    strategy = str(args.eval_strategy).rsplit(".", 1)[-1].lower()
    if strategy == "steps" and args.eval_steps:
        every = args.eval_steps
        if every < 1:  # a fraction of the training, as the Trainer reads it
            every = math.ceil(state.max_steps * every)
        return max(1, int(every))
    if strategy == "epoch" and state.num_train_epochs:
        return max(1, math.ceil(state.max_steps / state.num_train_epochs))
    return state.max_steps if state.max_steps and state.max_steps > 0 else None


def _evaluation_at(state: TrainerState, step: int) -> dict[str, Any] | None:
    """The metrics of the evaluation logged at `step` (as `on_evaluate` had them), if any."""
    for entry in reversed(state.log_history):
        if entry.get("step") == step and any(name.startswith("eval_") for name in entry):
            return {name: v for name, v in entry.items() if name not in ("epoch", "step")}
    return None
