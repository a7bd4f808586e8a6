"""Idle and trickling connections against a real server are closed: a client that sends nothing,
or its headers or body a byte at a time, cannot hold file descriptors for longer than the
header and body deadlines (LRHUB_HEADER_TIMEOUT, LRHUB_BODY_TIMEOUT, LRHUB_KEEP_ALIVE_TIMEOUT).

Each test blocks on the socket until the server acts: a read that returns (the server's answer,
or end of stream when it closes) is the event waited for, with a generous socket timeout that
fails the test if the server never acts.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ServerProcess, running_server

DEADLINE_SECONDS = 1
# How long the server may take past its deadline before the test calls it a hang.
GRACE_SECONDS = 20.0
ENV = {
    "LRHUB_HEADER_TIMEOUT": str(DEADLINE_SECONDS),
    "LRHUB_BODY_TIMEOUT": str(DEADLINE_SECONDS),
    "LRHUB_KEEP_ALIVE_TIMEOUT": str(DEADLINE_SECONDS),
}
DECIDE = "/v1/jobs/slow/epochs/0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("slow"), env=ENV) as live:
        spec = {"type": "constant", "learning_rate": 0.1}
        assert httpx.put(f"{live.url}/v1/jobs/slow", json={"spec": spec}).status_code == 201
        yield live


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=GRACE_SECONDS)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def assert_closed_by_server(sock: socket.socket) -> bytes:
    started = time.monotonic()
    try:
        received = read_until_closed(sock)
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {GRACE_SECONDS} s")
    finally:
        sock.close()
    # Closed by the deadline, not at once: the deadline is what closed it.
    assert time.monotonic() - started >= DEADLINE_SECONDS * 0.5
    return received


def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    assert assert_closed_by_server(connect(server)) == b""


def test_headers_that_never_finish_are_cut_off(server: ServerProcess) -> None:
    sock = connect(server)
    sock.sendall(f"POST {DECIDE} HTTP/1.1\r\nHost: x\r\nContent-Type: appl".encode())
    assert assert_closed_by_server(sock) == b""


def test_headers_trickled_a_byte_at_a_time_are_cut_off(server: ServerProcess) -> None:
    """Each byte arrives well within the deadline; the headers as a whole never do."""
    sock = connect(server)
    request = f"GET /v1/jobs/slow HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 1000}\r\n\r\n".encode()
    sock.settimeout(DEADLINE_SECONDS / 5)  # the pace: one byte per unanswered read
    started = time.monotonic()
    try:
        for byte in request:
            sock.sendall(bytes([byte]))
            try:
                if sock.recv(65536) == b"":
                    break  # closed
            except TimeoutError:
                continue
        else:
            pytest.fail("the server read the whole trickled request")
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending: what the deadline is for
    finally:
        sock.close()
    assert time.monotonic() - started < GRACE_SECONDS


def test_a_body_that_never_finishes_is_answered_408_and_closed(server: ServerProcess) -> None:
    sock = connect(server)
    head = (f"POST {DECIDE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + b'{"metrics": ')
    answer = assert_closed_by_server(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer[:500]
    assert b"application/problem+json" in rest and b"did not arrive" in rest, answer[:500]
    assert httpx.get(f"{server.url}/v1/jobs/slow").json()["last_epoch"] is None


def test_an_idle_keep_alive_connection_is_closed_after_its_answer(server: ServerProcess) -> None:
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = assert_closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:500]


def test_prompt_clients_are_served_and_nothing_crashed(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        for epoch in range(3):
            decided = client.post(f"/v1/jobs/slow/epochs/{epoch}", json={"metrics": {}})
            assert decided.status_code == 200, decided.text
    assert "Traceback" not in server.log(), server.log()[-3000:]
