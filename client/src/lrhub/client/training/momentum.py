"""The momentum (beta1) a schedule sets, put into a torch optimizer as torch's own schedulers do.

PyTorch's `OneCycleLR` and `CyclicLR` cycle momentum by default: `betas[0]` in every parameter
group of an optimizer that has `betas` (the Adam family), else `momentum` (SGD, RMSprop). An
answer that carries a `momentum` is applied the same way; an optimizer with neither is refused,
never silently left at its own momentum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import EpochAnswer


class ScheduledMomentum:
    """The momentum of the answered epoch (and of each of its steps), set per parameter group.

    Call `answered` with every answer (None: an outage held the rate, and momentum is held too)
    and `at_step(i)` when step i of a per-step epoch begins.
    """

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer
        self._steps: Sequence[float] | None = None
        # Whether the schedule sets momentum (kept through an outage, whose answers are None).
        self._scheduled = False

    def answered(self, answer: EpochAnswer | None) -> None:
        """Set the answer's momentum (its first step's); keep the current one when it has none."""
        if answer is not None:
            self._scheduled = answer.momentum is not None
        if answer is None or answer.momentum is None:
            self._steps = None
            return
        self._steps = answer.step_momentums
        self._set(answer.momentum if self._steps is None else self._steps[0])

    def at_step(self, index: int) -> None:
        """Set step `index`'s momentum, when the answer scheduled one per step."""
        if self._steps is not None and index < len(self._steps):
            self._set(self._steps[index])

    def held(self) -> float | None:
        """The momentum (beta1) the first parameter group holds now, when the schedule sets one
        (what is reported applied); None otherwise."""
        if not self._scheduled:
            return None
        group = self.optimizer.param_groups[0]
        return float(group["betas"][0] if "betas" in group else group["momentum"])

    def _set(self, momentum: float) -> None:
        defaults = self.optimizer.defaults
        if "betas" not in defaults and "momentum" not in defaults:
            raise ValueError(
                f"the schedule sets momentum, which {type(self.optimizer).__name__} has not "
                "(neither momentum nor betas): use SGD, RMSprop or an Adam-family optimizer, "
                "or give the spec cycle_momentum=false"
            )
        for group in self.optimizer.param_groups:
            if "betas" in defaults:
                group["betas"] = (momentum, *group["betas"][1:])
            else:
                group["momentum"] = momentum
