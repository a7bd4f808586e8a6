"""uvicorn's HTTP protocol with a header deadline: a connection whose request headers have not
all arrived `LRHUB_HEADER_TIMEOUT` seconds after it opened (or after its previous response) is
closed. uvicorn itself only times out idle keep-alive connections, so without this a client
that opens connections and sends nothing, or one header byte at a time, holds a file
descriptor each for as long as it likes. (The body deadline is the body-limit middleware's.)

It also bounds the headers' size: neither httptools nor h11 as uvicorn configures them limits
it, so a client sending megabytes of headers made the server buffer all of them. Past
`LRHUB_MAX_HEADER_BYTES` received before the headers end, the connection is answered 431
problem+json and closed; the server holds at most that plus one socket read per connection.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from lrhub.service.errors import HeadersTooLarge
from lrhub.service.http.problems import problem_response
from lrhub.service.settings import ServerSettings


@cache
def _settings() -> ServerSettings:
    # Read once per worker process: protocols are built per connection.
    return ServerSettings()


@cache
def _too_large_answer() -> bytes:
    """The raw 431 response (the request line may not even have arrived: no instance path)."""
    limit = _settings().max_header_bytes
    error = HeadersTooLarge(f"the request's headers are larger than {limit} bytes")
    response = problem_response(error, instance="/")
    head = [f"HTTP/1.1 {response.status_code} Request Header Fields Too Large"]
    head += [f"{name}: {value}" for name, value in response.headers.items()]
    head += ["connection: close", "", ""]
    return "\r\n".join(head).encode("latin-1") + response.body


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's own protocol (httptools, else h11), closing connections whose request headers
    are late. Both implementations start a request cycle once its headers are parsed."""

    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _deadline: asyncio.TimerHandle | None = None
    _timed_cycle: Any = None
    _header_bytes = 0  # received since the current request's headers began

    def _arm(self) -> None:
        self._disarm()
        self._header_bytes = 0
        self._deadline = self.loop.call_later(_settings().header_timeout, self._close_late)

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
        awaiting_headers = self._deadline is not None
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._timed_cycle:
            self._timed_cycle = self.cycle  # this request's headers are complete
            self._disarm()
        elif awaiting_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > _settings().max_header_bytes:
                self._disarm()
                self.transport.write(_too_large_answer())
                self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers, if the client keeps the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
