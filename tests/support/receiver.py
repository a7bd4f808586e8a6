"""A real webhook receiver on loopback: an HTTP server in a thread that records every request
and verifies each with the Standard Webhooks library, as a receiver in production would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from standardwebhooks.webhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One request the receiver got: its webhook headers, body, and when it arrived."""

    message_id: str
    timestamp: str
    signature: str
    body: bytes
    arrived: float  # time.time()

    @property
    def event(self) -> dict[str, Any]:
        """The decoded body: `type`, `timestamp`, `data`."""
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded

    def verify(self, secret: str) -> dict[str, Any]:
        """The body as the Standard Webhooks library verifies it (raises if it does not)."""
        headers = {
            "webhook-id": self.message_id,
            "webhook-timestamp": self.timestamp,
            "webhook-signature": self.signature,
        }
        verified: dict[str, Any] = Webhook(secret).verify(self.body, headers)
        return verified


# Decides each answer from the request's message id and how many times that id was seen
# (1 on its first attempt); None means hold the request open until `release`.
Plan = Callable[[str, int], int | None]


@dataclass
class Receiver:
    """The running receiver: its URL, what it got, and a switch for held requests."""

    url: str
    plan: Plan
    received: list[Received] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)  # set once a request is held
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(
        self, condition: Callable[[list[Received]], bool], deadline_seconds: float = 30.0
    ) -> list[Received]:
        """What was received once `condition` holds for it; AssertionError at the deadline."""

        def seen() -> list[Received]:
            with self.lock:
                return list(self.received)

        return poll_until(seen, condition, deadline_seconds)

    def count(self, message_id: str) -> int:
        """How many requests carried `message_id`."""
        with self.lock:
            return sum(1 for item in self.received if item.message_id == message_id)


T = TypeVar("T")


def poll_until(fetch: Callable[[], T], done: Callable[[T], bool], deadline_seconds: float) -> T:
    """`fetch()` once `done` holds for it, polled; AssertionError with the last value at the
    deadline."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not done after {deadline_seconds}s: {value!r}"[:2000])
        time.sleep(0.02)  # polling interval of the condition, not a race guard


def always(status: int) -> Plan:
    """A plan answering `status` to everything."""
    return lambda _message_id, _attempt: status


@contextmanager
def running_receiver(plan: Plan | None = None) -> Iterator[Receiver]:
    """A receiver on a free loopback port answering by `plan` (204 to everything when None),
    stopped at the end of the block."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder[0]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            item = Received(
                message_id=self.headers.get("webhook-id", ""),
                timestamp=self.headers.get("webhook-timestamp", ""),
                signature=self.headers.get("webhook-signature", ""),
                body=body,
                arrived=time.time(),
            )
            with receiver.lock:
                receiver.received.append(item)
                seen = sum(1 for got in receiver.received if got.message_id == item.message_id)
            status = receiver.plan(item.message_id, seen)
            if status is None:
                receiver.held.set()
                receiver.release.wait(60)
                status = 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what was received, not a log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    receiver = Receiver(url=url, plan=plan or always(204))
    holder.append(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
