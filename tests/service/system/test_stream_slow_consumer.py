"""A client that stops reading its stream does not make the server buffer the backlog."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert

from lrhub.client import Client
from lrhub.service.storage.database import make_engine, write_transaction
from lrhub.service.storage.tables import events
from tests.support.event_stream import StreamFollower
from tests.support.process_memory import resident_bytes
from tests.support.server import running_server

pytestmark = pytest.mark.slow

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
EVENTS = 4000
PAYLOAD = "x" * 8000  # 4,000 events of ~8 KB: a 32 MB backlog
WATCH_SECONDS = 3.0
ALLOWED_GROWTH = 16 * 2**20
CONTROL_DEADLINE_SECONDS = 60.0


@pytest.mark.parametrize(
    ("batch", "bounded"),
    [(None, True), (str(EVENTS), False)],
    ids=["default-batch", "control-whole-backlog-in-one-batch"],
)
def test_a_client_that_stops_reading_does_not_grow_server_memory(
    tmp_path: Path, batch: str | None, bounded: bool
) -> None:
    """The default batch keeps memory flat; the control (one batch as large as the backlog)
    shows that this measurement sees a server that holds the backlog."""
    env = {"LRHUB_STREAM_POLL_SECONDS": "0.05"}
    if batch is not None:
        env["LRHUB_STREAM_BATCH"] = batch
        env["LRHUB_STREAM_BATCH_BYTES"] = str(2**30)
    with running_server(tmp_path, env=env) as server:
        with Client(server.url) as client:
            client.put_job("busy", spec=DROP)
        engine = make_engine(f"sqlite:///{tmp_path / 'lrhub.db'}")
        try:
            with write_transaction(engine) as connection:
                connection.execute(
                    insert(events),
                    [
                        {
                            "job_id": "busy",
                            "at": datetime.now(UTC),
                            "actor": "test",
                            "action": "update",
                            "before": None,
                            "after": {"labels": {"note": PAYLOAD}, "status": "running"},
                        }
                        for _ in range(EVENTS)
                    ],
                )
        finally:
            engine.dispose()
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        baseline = resident_bytes(server.process.pid)

        stalled = socket.create_connection(("127.0.0.1", server.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        stalled.sendall(b"GET /v1/stream?after=0 HTTP/1.1\r\nHost: lrhub\r\n\r\n")
        assert stalled.recv(12) == b"HTTP/1.1 200"
        # The client reads nothing more. A server that read the backlog into memory would grow
        # by far more than the 32 MB it holds within this window; a bounded one holds a batch.
        # (The control stops watching as soon as it has grown: a loaded machine may take longer
        # than the window to read the backlog.)
        peak = baseline
        deadline = time.monotonic() + (WATCH_SECONDS if bounded else CONTROL_DEADLINE_SECONDS)
        while time.monotonic() < deadline and (bounded or peak - baseline <= ALLOWED_GROWTH):
            peak = max(peak, resident_bytes(server.process.pid))
            time.sleep(0.1)  # sampling interval of the memory watch
        stalled.close()
        if bounded:
            assert peak - baseline < ALLOWED_GROWTH, (baseline, peak)
        else:
            assert peak - baseline > ALLOWED_GROWTH, (baseline, peak)

        # The backlog was there to be sent: a reading client gets all of it.
        reader = StreamFollower(server.url, after=0)
        received = reader.take(EVENTS + 1, deadline=60)
        assert sum(event.data.get("actor") == "test" for event in received) == EVENTS
        reader.close()


LARGE_EVENTS = 150
LARGE_PAYLOAD = "x" * 400_000  # 150 events of ~400 KB: a 60 MB backlog, within one batch's count
STALLED_STREAMS = 2


def test_streams_that_stop_reading_hold_a_bounded_batch_of_large_events(tmp_path: Path) -> None:
    """A batch is bounded by size as well as by count: two stalled streams over a backlog of
    large events (fewer than LRHUB_STREAM_BATCH) grow the server by about a MiB each, not by
    the backlog."""
    with running_server(tmp_path, env={"LRHUB_STREAM_POLL_SECONDS": "0.05"}) as server:
        with Client(server.url) as client:
            client.put_job("large", spec=DROP)
        engine = make_engine(f"sqlite:///{tmp_path / 'lrhub.db'}")
        try:
            with write_transaction(engine) as connection:
                connection.execute(
                    insert(events),
                    [
                        {
                            "job_id": "large",
                            "at": datetime.now(UTC),
                            "actor": "test",
                            "action": "update",
                            "before": None,
                            "after": {"labels": {"note": LARGE_PAYLOAD}, "status": "running"},
                        }
                        for _ in range(LARGE_EVENTS)
                    ],
                )
        finally:
            engine.dispose()
        assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
        baseline = resident_bytes(server.process.pid)

        stalled = []
        for _ in range(STALLED_STREAMS):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(b"GET /v1/stream?after=0 HTTP/1.1\r\nHost: lrhub\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 200"
            stalled.append(sock)
        peak = baseline
        deadline = time.monotonic() + WATCH_SECONDS
        while time.monotonic() < deadline:
            peak = max(peak, resident_bytes(server.process.pid))
            time.sleep(0.1)  # sampling interval of the memory watch
        for sock in stalled:
            sock.close()
        assert peak - baseline < STALLED_STREAMS * ALLOWED_GROWTH, (baseline, peak)

        reader = StreamFollower(server.url, after=0)
        received = reader.take(LARGE_EVENTS + 1, deadline=60)
        notes = [event.data.get("after", {}).get("labels", {}).get("note") for event in received]
        assert notes.count(LARGE_PAYLOAD) == LARGE_EVENTS
        reader.close()
