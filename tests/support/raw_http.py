"""Send exactly the bytes a test means, which httpx would fix: literal `..` path segments,
a Content-Length that lies, chunked bodies."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message

RAW_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class RawResponse:
    """Status, case-insensitive headers and body of one answer."""

    status: int
    headers: Message
    body: bytes


def send_raw(
    port: int,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] = b"",
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    *,
    chunked: bool = False,
) -> RawResponse:
    """One request to 127.0.0.1:`port` on a fresh connection, path and headers sent as given.

    `headers` may repeat a name (as pairs). Content-Length is computed unless `headers` sets one
    (possibly a lie); `chunked` sends `body` (an iterable of chunks) with Transfer-Encoding:
    chunked.
    """
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=RAW_TIMEOUT_SECONDS)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        for name, value in pairs:
            connection.putheader(name, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        elif all(name.lower() != "content-length" for name, _ in pairs):
            assert isinstance(body, bytes)
            connection.putheader("Content-Length", str(len(body)))
        # The server may answer (413) and close before reading the whole body.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.endheaders(body, encode_chunked=chunked)
        response = connection.getresponse()
        return RawResponse(status=response.status, headers=response.headers, body=response.read())
    finally:
        connection.close()
