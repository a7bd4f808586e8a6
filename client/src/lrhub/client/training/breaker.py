"""`CircuitBreaker`: a training run's guard against asking a service that is down at every epoch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


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
