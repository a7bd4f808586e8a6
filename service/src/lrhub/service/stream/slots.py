"""How many event streams one server process keeps open at once."""

from __future__ import annotations

import threading

from lrhub.service.errors import Unavailable


class StreamSlots:
    """A counter of open streams, refusing more than `limit` with 503 (each open stream polls
    the database, so their number bounds the load they put on it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take a slot, or raise Unavailable when all are taken."""
        with self._lock:
            if self._open >= self.limit:
                raise Unavailable(
                    f"this server has {self.limit} event streams open "
                    "(LRHUB_STREAM_MAX_CONNECTIONS); retry later or on another replica"
                )
            self._open += 1

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._open -= 1
