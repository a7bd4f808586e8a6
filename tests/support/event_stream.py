"""Follow a real server's `GET /v1/stream` from a background thread, with deadlines.

A follower is open when it is made: a stream without `after` starts at the newest event when
the server answers, so a test that acts right after making one must not act before that.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import httpx

from lrhub.client import Client, StreamEvent
from lrhub.client.errors import LrhubError

DEADLINE_SECONDS = 30.0


class _OpenedTransport(httpx.HTTPTransport):
    """Signals once the server has answered (status and headers): its start position is fixed."""

    def __init__(self, opened: threading.Event) -> None:
        super().__init__()
        self.opened = opened

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.opened.set()
        return response


@dataclass
class StreamFollower:
    """Reads one stream connection into a queue until it ends; `take` waits for events."""

    url: str
    selector: str | None = None
    job: str | None = None
    after: int | None = None
    token: str | None = None
    events: queue.Queue[StreamEvent | BaseException | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        opened = threading.Event()
        self._client = Client(
            self.url, token=self.token, max_retries=0, transport=_OpenedTransport(opened)
        )
        self._thread = threading.Thread(target=self._follow, args=(opened,), daemon=True)
        self._thread.start()
        if not opened.wait(DEADLINE_SECONDS):
            raise AssertionError(f"the stream of {self.url} did not open in {DEADLINE_SECONDS} s")

    def _follow(self, opened: threading.Event) -> None:
        try:
            for event in self._client.stream(
                selector=self.selector, job=self.job, after=self.after
            ):
                self.events.put(event)
        except (LrhubError, ValueError) as error:
            self.events.put(error)
        finally:
            opened.set()  # a refused connection is "opened" too: `take` reports how it ended
            self.events.put(None)

    def take(self, count: int, deadline: float = DEADLINE_SECONDS) -> list[StreamEvent]:
        """The next `count` events; fails if the stream ends or is silent past the deadline."""
        taken: list[StreamEvent] = []
        while len(taken) < count:
            item = self.events.get(timeout=deadline)
            if not isinstance(item, StreamEvent):
                raise AssertionError(f"the stream ended after {len(taken)} events: {item!r}")
            taken.append(item)
        return taken

    def take_until_closed(self, deadline: float = DEADLINE_SECONDS) -> list[StreamEvent]:
        """Every event until the connection ends (e.g. its server was killed)."""
        taken: list[StreamEvent] = []
        while True:
            item = self.events.get(timeout=deadline)
            if not isinstance(item, StreamEvent):
                return taken
            taken.append(item)

    def close(self) -> None:
        """Close the connection (the reading thread ends with it)."""
        self._client.close()
