"""`RemoteLearningRate`: a Lightning callback that takes the learning rate from lrhub at every
validation.

Importing this module imports lightning and torch; `import lrhub.client` does not. The rates are
set by a `lrhub.client.torch.RemoteScheduler` on the trainer's optimizer, so parameter-group
ratios, `on_error`, the outage buffer, the stop signal and the job's lifecycle are the same.
"""

from __future__ import annotations

import math
from typing import Any, Unpack

import lightning.pytorch as pl

from .torch import RemoteScheduler
from .training import JobOptionKeywords, JobOptions


class RemoteLearningRate(pl.Callback):
    """Sets the optimizer's learning rate from an lrhub job, deciding at every validation.

    Job epoch 0 is the rate training starts with; job epoch n + 1 is decided from the metrics
    of the n-th validation (`trainer.callback_metrics`: what the module logged, e.g.
    `val_loss`), so with `val_check_interval=0.25` the rate can change four times per epoch.
    The decision is asked just before the first training batch after the validation, so the
    last validation's metrics are reported alone when training ends, with the job `completed`
    (`failed` when training raises or the last `loss` is not finite). The sanity check's
    validation is not reported.

    `configure_optimizers` returns only the optimizer: lrhub's schedule replaces Lightning's
    schedulers (a configured scheduler is refused, the two would fight). The rate is logged
    each training step as Lightning's `LearningRateMonitor` names it (`lr-SGD`, and
    `lr-SGD/pg2`... for further parameter groups). The callback's state (job epoch numbering)
    is saved in Lightning checkpoints, so `trainer.fit(ckpt_path=...)` continues the job.
    When the service answers `stop`, `trainer.should_stop` is set. Under a distributed
    strategy (`ddp`, `ddp_spawn`, `fsdp`, ...) the job is one lrhub job: rank 0 alone talks to
    lrhub and every rank trains with its answer (`lrhub.client.torch.RemoteScheduler`).

    Args:
        monitor: as `lrhub.client.torch.RemoteScheduler`.
        log_rate: log the rate with `pl_module.log` (default True).
        reduce_metrics: under a distributed strategy, report each metric's mean over the
            ranks instead of rank 0's (metrics logged with `sync_dist=True` are already equal).
        **options: the job and what to do when lrhub cannot answer (`job`, `schedule` or `spec`,
            `on_error`, ...), as `lrhub.client.training.JobOptionKeywords` documents them.
    """

    def __init__(
        self,
        *,
        monitor: str | None = None,
        log_rate: bool = True,
        reduce_metrics: bool = False,
        **options: Unpack[JobOptionKeywords],
    ) -> None:
        super().__init__()
        # Checked now; the scheduler is made of them when training starts (the optimizer exists).
        JobOptions(**options)
        self._options = options
        self._monitor = monitor
        self.log_rate = log_rate
        self.reduce_metrics = reduce_metrics
        self.scheduler: RemoteScheduler | None = None
        # The last validation's metrics, reported when the next batch starts (or at the end).
        self._validated: dict[str, Any] | None = None
        self._restored: dict[str, Any] | None = None
        self._names: list[str] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.lr_scheduler_configs:
            raise ValueError(
                "RemoteLearningRate sets the learning rate itself, but configure_optimizers "
                "also returns a learning-rate scheduler; return only the optimizer and put the "
                "schedule in lrhub"
            )
        if len(trainer.optimizers) != 1:
            raise ValueError(
                f"RemoteLearningRate drives one optimizer; this module has "
                f"{len(trainer.optimizers)}"
            )
        optimizer = trainer.optimizers[0]
        if self.scheduler is None or self.scheduler.optimizer is not optimizer:
            steps = _steps_between_validations(trainer)
            self.scheduler = RemoteScheduler(
                optimizer,
                per_step=steps is not None,
                steps_per_epoch=steps,
                monitor=self._monitor,
                reduce_metrics=self.reduce_metrics,
                **self._options,
            )
        if self._restored is not None:
            self.scheduler.load_state_dict(self._restored["scheduler"])
            self._validated = self._restored["validated"]
            self._restored = None
        self._names = _rate_names(optimizer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.scheduler is None:
            return
        # Without the rates this callback logs itself.
        metrics = trainer.callback_metrics.items()
        self._validated = {name: value for name, value in metrics if name not in self._names}

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        if self._validated is not None:
            metrics, self._validated = self._validated, None
            scheduler.end_interval(metrics)
        if scheduler.should_stop:
            trainer.should_stop = True

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        scheduler = self.scheduler
        if scheduler is None:
            return
        # The rate of this optimizer step (a step-counted spec changes it at every one).
        scheduler.before_optimizer_step()
        if self.log_rate:
            for name, rate in zip(self._names, scheduler.get_last_lr(), strict=True):
                pl_module.log(name, rate, on_step=True, on_epoch=False)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # What this batch's optimizer step trained with (the module's own hooks run after this
        # callback's): reported applied when the interval ends.
        if self.scheduler is not None:
            self.scheduler.optimizer_stepped()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.scheduler is not None:
            self.scheduler.finish(self._validated)
            self._validated = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        # Reported where the exception leaves the fit (docs/design.md, "A crash").
        if self.scheduler is not None:
            self.scheduler.finish(status="failed")

    def state_dict(self) -> dict[str, Any]:
        """The job's epoch numbering, saved in Lightning checkpoints."""
        if self.scheduler is None:
            return {}
        validated = None
        if self._validated is not None:
            validated = {name: float(value) for name, value in self._validated.items()}
        return {"scheduler": self.scheduler.state_dict(), "validated": validated}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore `state_dict()`; applied when training starts (the optimizer exists then)."""
        self._restored = dict(state_dict) if state_dict else None


def _steps_between_validations(trainer: pl.Trainer) -> int | None:
    """The optimizer steps from one validation to the next (or of the whole fit without
    validation): the steps of one job epoch. None when the fit has no known end and no
    validation."""
    accumulate = max(1, int(trainer.accumulate_grad_batches))
    batches = trainer.num_training_batches
    # enable_validation: a validation loader, a validation_step and limit_val_batches > 0.
    check = trainer.val_check_batch
    if (
        trainer.enable_validation
        and check is not None
        and math.isfinite(check)
        and math.isfinite(batches)
    ):
        every = int(check)
        if every >= batches:  # validation at the end of every n-th epoch
            every = int(batches) * (trainer.check_val_every_n_epoch or 1)
        return max(1, math.ceil(every / accumulate))
    total = trainer.estimated_stepping_batches
    return int(total) if math.isfinite(total) and total >= 1 else None


def _rate_names(optimizer: Any) -> list[str]:
    """LearningRateMonitor's names: `lr-<optimizer class>`, `/pg<n>` for every group after one."""
    name = "lr-" + type(optimizer).__name__
    groups = optimizer.param_groups
    if len(groups) == 1:
        return [name]
    return [f"{name}/{group.get('name', f'pg{i}')}" for i, group in enumerate(groups, start=1)]
