"""How this server delivers webhooks, from its settings (`LRHUB_WEBHOOK_*`): the key their
secrets are encrypted with, the retry schedule, the SSRF guard's switch, the time one attempt
may take."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

# The Standard Webhooks schedule: immediately, then 5 seconds, 5 minutes, 30 minutes, 2 hours,
# 5 hours, 10 hours and 10 hours after each failed attempt.
DEFAULT_RETRY_SCHEDULE = "0,5s,5m,30m,2h,5h,10h,10h"
MIN_WEBHOOK_KEY_LENGTH = 32
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_ATTEMPTS = 20


def parse_retry_schedule(text: str) -> tuple[timedelta, ...]:
    """`0,5s,5m,2h` (plain numbers are seconds) as the delays before each attempt: the first
    one's after the event, each next one's after the attempt before failed. ValueError names
    the item that is not a duration."""
    delays = []
    for position, item in enumerate(text.split(","), start=1):
        found = _DURATION.match(item)
        if found is None:
            raise ValueError(
                f"LRHUB_WEBHOOK_RETRY_SCHEDULE item {position} ({item.strip()!r}) is not a "
                "duration such as 0, 5s, 5m or 2h"
            )
        delays.append(timedelta(seconds=float(found[1]) * _UNIT_SECONDS[found[2]]))
    if len(delays) > MAX_ATTEMPTS:
        raise ValueError(f"LRHUB_WEBHOOK_RETRY_SCHEDULE has more than {MAX_ATTEMPTS} attempts")
    return tuple(delays)


@dataclass(frozen=True)
class WebhookOptions:
    """How this server delivers webhooks (from its settings)."""

    key: str | None
    """What signing secrets are encrypted with at rest; None: no webhook can be created."""
    retry_schedule: tuple[timedelta, ...]
    allow_private: bool
    """Whether private, loopback and link-local targets are allowed (SSRF guard off)."""
    timeout: float
    """Seconds one attempt may take, connecting and reading the answer included."""
    lock_timeout: float
    """Seconds a statement may wait for a database lock (LRHUB_LOCK_TIMEOUT)."""
    stale_after: timedelta
    """LRHUB_STALE_AFTER: what `job.stale` events are raised by."""

    @property
    def lease(self) -> timedelta:
        """How long a claimed attempt is this process's: past it (the process died while
        delivering), another process claims the message again. Longer than an attempt and the
        write of its outcome may take, so a live process's attempt is never sent twice."""
        return timedelta(seconds=2 * self.timeout + 2 * self.lock_timeout)
