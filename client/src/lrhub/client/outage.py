"""Epochs a training job could not report during an outage, replayed in order once lrhub is back.

Replaying is safe because decisions are idempotent: an epoch the service already decided (a
request whose answer was lost) is answered again from its stored decision, state unmoved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ._sync import Client
from .errors import LrhubError, RateLimited, ServerError, ServiceUnavailable, TransportError
from .models import Applied, EpochAnswer

# About 1 MB of metrics for a typical job: days of epochs, bounded memory for a longer outage.
DEFAULT_MAX_PENDING = 10_000


def is_outage(error: LrhubError) -> bool:
    """True when the service could not decide (unreachable, overloaded, database down): worth
    replaying later. A refusal (404, 403, 422, ...) would be refused again."""
    return isinstance(error, TransportError | ServiceUnavailable | ServerError | RateLimited)


@dataclass(frozen=True)
class PendingEpoch:
    """One report not answered yet: the decision of `epoch` from what the job observed before
    it, or (`end_only`) the metrics observed at the end of `epoch`, the last of a fit."""

    epoch: int
    metrics: dict[str, float] | None
    steps_per_epoch: int | None
    end_only: bool = False
    applied: Applied | None = None
    """What the optimizer applied during the epoch it ends (held rates, during an outage)."""

    def send(self, client: Client, job_id: str) -> EpochAnswer | None:
        """Report it; the decision's answer (None for an end report)."""
        if self.end_only:
            client.report_epoch_end(
                job_id, self.epoch, metrics=self.metrics or {}, applied=self.applied
            )
            return None
        return client.decide(
            job_id,
            self.epoch,
            metrics=self.metrics,
            steps_per_epoch=self.steps_per_epoch,
            applied=self.applied,
        )


class PendingEpochs:
    """A bounded FIFO of unreported epochs, flushed to the service in order.

    It keeps the last `max_pending` missed epochs plus the one being asked. Beyond, the oldest
    are dropped (counted in `dropped`): the service then sees a gap, which it decides from the
    state as it is, so the plateau state no longer ends exactly as without the outage.
    """

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending}")
        self.capacity = max_pending
        self._epochs: deque[PendingEpoch] = deque(maxlen=max_pending + 1)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._epochs)

    def epochs(self) -> list[int]:
        """The epochs waiting, oldest first."""
        return [pending.epoch for pending in self._epochs]

    def add(
        self,
        epoch: int,
        metrics: Mapping[str, float] | None,
        steps_per_epoch: int | None,
        *,
        end_only: bool = False,
        applied: Applied | None = None,
    ) -> bool:
        """Queue the request of `epoch` (or, `end_only`, the report of its end); True when that
        dropped the oldest one (buffer full)."""
        full = len(self._epochs) == self._epochs.maxlen
        if full:
            self.dropped += 1
        metrics_copy = None if metrics is None else dict(metrics)
        self._epochs.append(PendingEpoch(epoch, metrics_copy, steps_per_epoch, end_only, applied))
        return full

    def name_metric(self, placeholder: str, name: str) -> None:
        """Report the metric queued under `placeholder` as `name` (known only now)."""
        for index, pending in enumerate(self._epochs):
            if pending.metrics is not None and placeholder in pending.metrics:
                metrics = {
                    (name if key == placeholder else key): value
                    for key, value in pending.metrics.items()
                }
                self._epochs[index] = replace(pending, metrics=metrics)

    def flush(self, client: Client, job_id: str) -> EpochAnswer | None:
        """Send every pending report in order; the answer of the last one (None when it is an
        end report).

        An outage error stops the flush and keeps this epoch and the later ones for the next
        flush. Any other error (the service refused the epoch) drops that epoch, since sending it
        again would be refused again, and is raised; the later epochs stay queued.
        """
        if not self._epochs:
            raise ValueError("no pending epoch to flush")
        decision: EpochAnswer | None = None
        while self._epochs:
            try:
                decision = self._epochs[0].send(client, job_id)
            except LrhubError as error:
                if not is_outage(error):
                    self._epochs.popleft()
                raise
            self._epochs.popleft()
        return decision
