"""`PendingEpochs` on `httpx.MockTransport`: what is kept, dropped and replayed, in which order."""

from __future__ import annotations

import json

import httpx
import pytest

from lrhub.client import Client, ConnectError, ServiceUnavailable, ValidationError
from lrhub.client.outage import PendingEpochs

NOW = "2026-01-01T00:00:00+00:00"


class Service:
    """A scripted lrhub: refuses connections while `down`, else answers `status` (200: a
    decision for the requested epoch). Records the (epoch, body) of every request it answers."""

    def __init__(self) -> None:
        self.down = False
        self.status = 200
        self.answered: list[tuple[int, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        epoch = int(request.url.path.rsplit("/", 1)[1])
        self.answered.append((epoch, json.loads(request.content)))
        if self.status != 200:
            problem = {"type": "about:blank", "title": "no", "status": self.status}
            return httpx.Response(self.status, json=problem)
        decision = {"job_id": "j", "epoch": epoch, "learning_rate": 0.1 / (epoch + 1),
                    "reason": "r", "state": {"epoch": epoch}, "decided_at": NOW}  # fmt: skip
        return httpx.Response(200, json=decision)

    def client(self) -> Client:
        return Client("http://lrhub.test", max_retries=0, transport=httpx.MockTransport(self))


def test_epochs_missed_in_an_outage_are_replayed_in_order_with_their_metrics() -> None:
    service = Service()
    pending = PendingEpochs()
    service.down = True
    with service.client() as client:
        for epoch in (4, 5, 6):
            pending.add(epoch, {"val_loss": epoch / 10}, None)
            with pytest.raises(ConnectError):
                pending.flush(client, "j")
            assert pending.epochs() == list(range(4, epoch + 1))
        service.down = False
        pending.add(7, None, 3)
        decision = pending.flush(client, "j")

    assert service.answered == [
        (4, {"metrics": {"val_loss": 0.4}, "steps_per_epoch": None}),
        (5, {"metrics": {"val_loss": 0.5}, "steps_per_epoch": None}),
        (6, {"metrics": {"val_loss": 0.6}, "steps_per_epoch": None}),
        (7, {"metrics": None, "steps_per_epoch": 3}),
    ]
    assert decision is not None
    assert decision.epoch == 7 and decision.learning_rate == 0.1 / 8
    assert len(pending) == 0


def test_an_unavailable_service_keeps_the_epoch_but_a_refusal_drops_it() -> None:
    service = Service()
    pending = PendingEpochs()
    with service.client() as client:
        service.status = 503
        pending.add(1, {"loss": 1.0}, None)
        pending.add(2, {"loss": 0.5}, None)
        with pytest.raises(ServiceUnavailable):
            pending.flush(client, "j")
        assert pending.epochs() == [1, 2], "a 503 is an outage: both stay for the next flush"

        service.status = 422
        with pytest.raises(ValidationError):
            pending.flush(client, "j")
        assert pending.epochs() == [2], "a refused epoch would be refused again: dropped"

        service.status = 200
        flushed = pending.flush(client, "j")
        assert flushed is not None and flushed.epoch == 2
    assert [epoch for epoch, _ in service.answered] == [1, 1, 2]


def test_beyond_its_bound_the_buffer_drops_the_oldest_epochs_and_counts_them() -> None:
    pending = PendingEpochs(max_pending=3)
    full = [pending.add(epoch, {"loss": float(epoch)}, None) for epoch in range(6)]
    assert full == [False, False, False, False, True, True], "3 missed ones + the one asked"
    assert pending.epochs() == [2, 3, 4, 5]
    assert pending.dropped == 2 and pending.capacity == 3


def test_the_buffer_keeps_a_copy_of_the_metrics_it_was_given() -> None:
    service = Service()
    pending = PendingEpochs()
    metrics = {"loss": 1.0}
    pending.add(0, metrics, None)
    metrics["loss"] = 2.0
    with service.client() as client:
        pending.flush(client, "j")
    assert service.answered == [(0, {"metrics": {"loss": 1.0}, "steps_per_epoch": None})]


def test_a_bound_below_one_and_an_empty_flush_are_refused() -> None:
    with pytest.raises(ValueError, match="max_pending"):
        PendingEpochs(max_pending=0)
    with Service().client() as client, pytest.raises(ValueError, match="no pending epoch"):
        PendingEpochs().flush(client, "j")
