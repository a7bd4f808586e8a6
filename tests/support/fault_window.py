"""Which answers a fault could explain: a window opened around each injected fault, and the
server errors clients saw, each marked as overlapping a window or not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowMark:
    """What a request saw of the fault windows when it was sent."""

    open: bool
    generation: int


@dataclass(frozen=True)
class ServerErrorSeen:
    """One 5xx answer a client saw: the request, the answer, and whether a fault overlapped."""

    method: str
    url: str
    request_body: str
    status: int
    response_body: str
    in_fault_window: bool
    seen_at: float  # time.monotonic()


class FaultWindow:
    """Open while a fault is under way; thread-safe. A request overlaps a fault when a window
    was open when it was sent or answered, or opened and closed while it was in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._generation = 0  # bumped at every opening and closing
        self._errors: list[ServerErrorSeen] = []

    @contextmanager
    def opened(self) -> Iterator[None]:
        """The window is open inside the block."""
        with self._lock:
            self._open = True
            self._generation += 1
        try:
            yield
        finally:
            with self._lock:
                self._open = False
                self._generation += 1

    def mark(self) -> WindowMark:
        """Take before sending a request; pass to `overlapped` once it is answered."""
        with self._lock:
            return WindowMark(open=self._open, generation=self._generation)

    def overlapped(self, mark: WindowMark) -> bool:
        """True when a fault window overlapped the request that took `mark`."""
        with self._lock:
            return mark.open or self._open or mark.generation != self._generation

    def record_error(
        self, method: str, url: str, request_body: str, status: int, response_body: str,
        mark: WindowMark,
    ) -> ServerErrorSeen:  # fmt: skip
        """Keep a 5xx answer with whether a fault overlapped it; answers the record."""
        seen = ServerErrorSeen(
            method=method,
            url=url,
            request_body=request_body,
            status=status,
            response_body=response_body,
            in_fault_window=self.overlapped(mark),
            seen_at=time.monotonic(),
        )
        with self._lock:
            self._errors.append(seen)
        return seen

    @property
    def errors(self) -> list[ServerErrorSeen]:
        """Every 5xx recorded so far, in the order seen."""
        with self._lock:
            return list(self._errors)
