"""Follow a real server's `GET /v1/stream` from a background thread, with deadlines."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from lrhub.client import Client, StreamEvent
from lrhub.client.errors import LrhubError

DEADLINE_SECONDS = 30.0


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
        self._client = Client(self.url, token=self.token, max_retries=0)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            for event in self._client.stream(
                selector=self.selector, job=self.job, after=self.after
            ):
                self.events.put(event)
        except (LrhubError, ValueError) as error:
            self.events.put(error)
        finally:
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
