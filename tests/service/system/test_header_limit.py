"""Request headers are bounded (LRHUB_MAX_HEADER_BYTES) on a real server: past the bound a
connection is answered 431 problem+json and closed, and many connections sending huge headers
at once do not grow the server's memory by their size."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest

from tests.support.process_memory import resident_bytes
from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

SOCKET_TIMEOUT_SECONDS = 30.0
DEFAULT_LIMIT = 65_536
CONNECTIONS = 20
HEADER_BYTES_PER_CONNECTION = 8 * 2**20  # 160 MiB in all, were the server to keep them
ALLOWED_GROWTH = 48 * 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("headers")) as live:
        yield live


def _request_head(padding: int) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * padding}\r\n\r\n".encode()


def _send_until_refused(sock: socket.socket, data: bytes) -> None:
    """Send `data`, stopping quietly where the server stops reading and closes."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for start in range(0, len(data), 65_536):
            sock.sendall(data[start : start + 65_536])


def _answer(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65_536):
            received += chunk
    return received


def test_headers_within_the_bound_are_served(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_SECONDS) as sock:
        sock.sendall(_request_head(DEFAULT_LIMIT // 2))
        head = sock.recv(65_536)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]


def test_headers_past_the_bound_are_answered_431_and_closed(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_SECONDS) as sock:
        _send_until_refused(sock, _request_head(4 * DEFAULT_LIMIT))
        answer = _answer(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:300]
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 431 and str(DEFAULT_LIMIT) in problem["detail"]


def test_many_huge_headers_at_once_do_not_grow_memory_by_their_size(
    server: ServerProcess,
) -> None:
    before = resident_bytes(server.process.pid)
    sockets = [
        socket.create_connection(("127.0.0.1", server.port), SOCKET_TIMEOUT_SECONDS)
        for _ in range(CONNECTIONS)
    ]
    try:
        chunk = b"X-Pad: " + b"p" * 65_536 + b"\r\n"
        start = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        # Interleaved, so that all of them are sending at the same time.
        for sock in sockets:
            _send_until_refused(sock, start)
        for _ in range(HEADER_BYTES_PER_CONNECTION // len(chunk)):
            open_ones = 0
            for sock in sockets:
                if sock.fileno() == -1:
                    continue
                try:
                    sock.sendall(chunk)
                    open_ones += 1
                except (BrokenPipeError, ConnectionResetError):
                    sock.close()
            if not open_ones:
                break
        peak = resident_bytes(server.process.pid)
    finally:
        for sock in sockets:
            sock.close()
    assert peak - before < ALLOWED_GROWTH, f"grew {(peak - before) / 2**20:.0f} MiB"
