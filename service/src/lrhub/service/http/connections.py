"""uvicorn's HTTP protocol with a header deadline: a connection whose request headers have not
all arrived `LRHUB_HEADER_TIMEOUT` seconds after it opened (or after its previous response) is
closed. uvicorn itself only times out idle keep-alive connections, so without this a client
that opens connections and sends nothing, or one header byte at a time, holds a file
descriptor each for as long as it likes. (The body deadline is the body-limit middleware's.)
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from lrhub.service.settings import ServerSettings


@cache
def _header_timeout() -> float:
    # Read once per worker process: protocols are built per connection.
    return ServerSettings().header_timeout


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own protocol (httptools, else h11), closing connections whose request headers
    are late. Both implementations start a request cycle once its headers are parsed."""

    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _deadline: asyncio.TimerHandle | None = None
    _timed_cycle: Any = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(_header_timeout(), self._close_late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._timed_cycle:
            self._timed_cycle = self.cycle  # this request's headers are complete
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers, if the client keeps the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
