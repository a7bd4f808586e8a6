"""Slow readers of a wide CSV history do not make the server hold their downloads.

Six raw-socket clients ask for the CSV of a history of 2,000 decisions with 256 metrics each
(about 14 MB of CSV), read its start, then stop reading. The server's resident memory, sampled
while they stall and after they leave, stays within a bound far below what holding a page of
decisions (or the CSV) per reader costs; a reader that reads on still gets every row.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert, select

from lrhub.service.storage.database import make_engine, read_transaction, write_transaction
from lrhub.service.storage.tables import decisions
from tests.support.process_memory import resident_bytes
from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

SPEC = {"type": "constant", "learning_rate": 0.1}
METRICS = {f"metric_{i:03d}_with_a_long_descriptive_name": 1.0 / (i + 3) for i in range(256)}
DECISIONS = 2000
READERS = 6
# Each reader reads this much (past the header, into the rows) before it stalls: by then its
# download is streaming rows, with whatever the server holds for it in memory.
READ_BEFORE_STALL = 256 * 1024
RECEIVE_BUFFER = 64 * 1024
WATCH_SECONDS = 3.0
# Six stalled readers may cost the server this much in all: a page of CSV text each (1 MiB),
# socket-side buffers, and allocator slack from the pages read before the stall.
ALLOWED_GROWTH = 48 * 2**20


def _wide_history(server: ServerProcess, tmp_path: Path) -> None:
    """The job `wide`: two decisions over HTTP, then copies of the second up to DECISIONS."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.put("/v1/jobs/wide", json={"spec": SPEC}).status_code == 201
        for epoch in range(2):
            answer = client.post(f"/v1/jobs/wide/epochs/{epoch}", json={"metrics": METRICS})
            assert answer.status_code == 200, answer.text
    engine = make_engine(f"sqlite:///{tmp_path / 'lrhub.db'}")
    try:
        with read_transaction(engine) as connection:
            row = dict(
                connection.execute(select(decisions).where(decisions.c.epoch == 1)).mappings().one()
            )
        row.pop("id")
        with write_transaction(engine) as connection:
            connection.execute(
                insert(decisions),
                [{**row, "epoch": epoch, "seq": None} for epoch in range(2, DECISIONS)],
            )
    finally:
        engine.dispose()


def _stalled_reader(port: int) -> socket.socket:
    """A connection that asked for the CSV and read READ_BEFORE_STALL bytes of the answer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /v1/jobs/wide/epochs.csv HTTP/1.1\r\nHost: lrhub\r\n\r\n")
    received = b""
    while len(received) < READ_BEFORE_STALL:
        chunk = sock.recv(65536)
        assert chunk, received[:300]
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    return sock


def test_slow_readers_of_a_wide_csv_hold_bounded_memory(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        _wide_history(server, tmp_path)
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        baseline = resident_bytes(server.process.pid)

        readers = [_stalled_reader(server.port) for _ in range(READERS)]
        peak = resident_bytes(server.process.pid)
        deadline = time.monotonic() + WATCH_SECONDS
        while time.monotonic() < deadline:
            peak = max(peak, resident_bytes(server.process.pid))
            time.sleep(0.1)  # sampling interval of the memory watch
        for reader in readers:
            reader.close()
        assert peak - baseline < ALLOWED_GROWTH, (baseline, peak)

        # The whole CSV was there to be sent: a reader that reads on gets every row, every
        # metric in its column.
        answer = httpx.get(f"{server.url}/v1/jobs/wide/epochs.csv", timeout=120)
        assert answer.status_code == 200
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [int(row["epoch"]) for row in rows] == list(range(DECISIONS))
        name = next(iter(METRICS))
        assert {float(row[f"input.{name}"]) for row in rows[1:]} == {METRICS[name]}
        after = resident_bytes(server.process.pid)
        assert after - baseline < ALLOWED_GROWTH, (baseline, after)
