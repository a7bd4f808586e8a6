"""A loopback TCP proxy that can go silent: what a dead host or a dropped route looks like to a
database client, without touching the database server other tests share.

`blackhole()` makes every open connection, and every connection accepted from then on, swallow
what it receives in both directions without closing anything: no FIN, no RST, no answer.
`restore()` forwards new connections again; the blackholed ones stay dead, as connections to a
vanished peer do.
"""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

CHUNK = 65536
# How often a pump looks up from its sockets to see whether the proxy was closed.
POLL_SECONDS = 0.1


class _Link:
    """One client connection and its upstream connection, forwarded both ways by one thread."""

    def __init__(self, client: socket.socket, upstream: socket.socket, dead: bool) -> None:
        self.client = client
        self.upstream = upstream
        self.dead = threading.Event()
        if dead:
            self.dead.set()

    def pump(self, closing: threading.Event) -> None:
        peers = {self.client: self.upstream, self.upstream: self.client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            try:
                while not closing.is_set():
                    for key, _ in selector.select(POLL_SECONDS):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = source.recv(CHUNK)
                        if not data:
                            return  # an end before the blackhole is forwarded by closing both
                        if not self.dead.is_set():
                            peers[source].sendall(data)
            except OSError:
                return
            finally:
                self.client.close()
                self.upstream.close()


class BlackholeProxy:
    """Listens on 127.0.0.1 (`port`) and forwards each connection to `upstream`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_SECONDS)
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._silent = False
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setblocking(True)
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                link = _Link(client, upstream, dead=self._silent)
                self._links.append(link)
            self._start(link.pump, self._closing)

    def blackhole(self) -> None:
        """Every connection, open or new, stops forwarding and stays open."""
        with self._lock:
            self._silent = True
            for link in self._links:
                link.dead.set()

    def restore(self) -> None:
        """New connections are forwarded again (blackholed ones stay dead)."""
        with self._lock:
            self._silent = False

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._closing.set()
        self._threads[0].join()  # the acceptor first: it is what starts the others
        self._listener.close()
        for thread in self._threads[1:]:
            thread.join()


@contextmanager
def blackhole_proxy(upstream: tuple[str, int]) -> Iterator[BlackholeProxy]:
    """A running proxy to `upstream`, closed at the end of the block."""
    proxy = BlackholeProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()
