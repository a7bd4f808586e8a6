"""`GET /v1/stream` from a real `lrhub serve` (SQLite): what it sends, filters, resumption,
keep-alives and the bound on open streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lrhub.client import Client, JobPatch
from tests.support.event_stream import StreamFollower
from tests.support.server import ServerProcess, running_server

pytestmark = pytest.mark.slow

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
FAST_POLL = {"LRHUB_STREAM_POLL_SECONDS": "0.05"}
DEADLINE_SECONDS = 30.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path, env=FAST_POLL) as started:
        yield started


def test_every_decision_change_and_status_transition_is_streamed(server: ServerProcess) -> None:
    everything = StreamFollower(server.url)
    vision = StreamFollower(server.url, selector="team=vision")
    with Client(server.url) as client:
        client.put_job("v1", spec=DROP, labels={"team": "vision"})
        one_job = StreamFollower(server.url, job="v1", after=0)
        client.put_job("n1", spec=DROP, labels={"team": "nlp"})
        client.decide("v1", 0, metrics={})
        client.decide("n1", 0, metrics={})
        bulk = client.patch_jobs("team in (vision, nlp)", JobPatch(scale=0.5))
        client.patch_job("n1", JobPatch(status="stopped"))
    events = everything.take(7)
    assert [(event.event, event.data["job_id"]) for event in events] == [
        ("change", "v1"),
        ("change", "n1"),
        ("decision", "v1"),
        ("decision", "n1"),
        ("change", "n1"),
        ("change", "v1"),
        ("status", "n1"),
    ]  # the bulk change goes through its jobs in id order
    ids = [event.id for event in events]
    assert ids == sorted(set(ids))
    decision = events[2].data
    assert (decision["epoch"], decision["learning_rate"]) == (0, 0.1)
    # Every change is a record its events name: the bulk change's two, the stop's one.
    assert [event.data["change_id"] for event in events[4:6]] == [bulk.change_id] * 2
    assert {event.data["after"]["scale"] for event in events[4:6]} == {0.5}
    stopped = events[-1].data
    assert (stopped["before"]["status"], stopped["after"]["status"]) == ("running", "stopped")
    assert stopped["change_id"] not in (None, bulk.change_id)

    assert [event.data["job_id"] for event in vision.take(3)] == ["v1", "v1", "v1"]
    assert [event.event for event in one_job.take(3)] == ["change", "decision", "change"]

    resumed = StreamFollower(server.url, after=ids[3])
    assert [event.id for event in resumed.take(3)] == ids[4:]
    with (
        httpx.Client(timeout=DEADLINE_SECONDS) as raw,
        raw.stream(
            "GET", f"{server.url}/v1/stream", headers={"Last-Event-ID": str(ids[5])}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == ": lrhub event stream"
        assert next(lines) == ""
        assert next(lines) == f"id: {ids[6]}"
        assert next(lines) == "event: status"
    for follower in (everything, vision, one_job, resumed):
        follower.close()


def test_quiet_streams_send_keep_alive_comments(tmp_path: Path) -> None:
    env = FAST_POLL | {"LRHUB_STREAM_KEEPALIVE_SECONDS": "0.2"}
    with (
        running_server(tmp_path, env=env) as server,
        httpx.Client(timeout=DEADLINE_SECONDS) as raw,
        raw.stream("GET", f"{server.url}/v1/stream") as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == ": lrhub event stream"
        assert next(lines) == ""
        assert next(lines) == ": keep-alive"


def test_open_streams_are_bounded_per_process(tmp_path: Path) -> None:
    env = FAST_POLL | {"LRHUB_STREAM_MAX_CONNECTIONS": "1"}
    with running_server(tmp_path, env=env) as server:
        with (
            httpx.Client(timeout=DEADLINE_SECONDS) as first,
            first.stream("GET", f"{server.url}/v1/stream") as response,
        ):
            lines = response.iter_lines()  # kept: closing the iterator closes the connection
            assert next(lines) == ": lrhub event stream"
            refused = httpx.get(f"{server.url}/v1/stream", timeout=DEADLINE_SECONDS)
            assert refused.status_code == 503
            assert "LRHUB_STREAM_MAX_CONNECTIONS" in refused.json()["detail"]
        # The closed stream's slot comes back once the server notices the disconnect.
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            with (
                httpx.Client(timeout=DEADLINE_SECONDS) as again,
                again.stream("GET", f"{server.url}/v1/stream") as response,
            ):
                if response.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slot of a closed stream never came back"
            time.sleep(0.05)  # polling for the server to notice, not a race guard


def test_bad_stream_requests_are_refused(server: ServerProcess) -> None:
    def status(params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> int:
        url = f"{server.url}/v1/stream"
        return httpx.get(url, params=params, headers=headers, timeout=DEADLINE_SECONDS).status_code

    assert status(params={"selector": "team in (a"}) == 422
    assert status(params={"after": "-1"}) == 422
    assert status(params={"job": "nope"}) == 404
    assert status(params={"jobs": "x"}) == 422
    assert status(headers={"Last-Event-ID": "abc"}) == 422
