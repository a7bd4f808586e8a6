"""The SDK against a real `lrhub serve`: every model parses the service's real answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrhub.client import (
    AsyncClient,
    Client,
    Conflict,
    Forbidden,
    JobPatch,
    NotFound,
    PreconditionFailed,
    StreamEvent,
    Unauthorized,
    ValidationError,
)
from tests.support.server import ServerProcess, running_server

DROP = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
# semantics "keras" reduces the float32 rate Keras holds, as ReduceLROnPlateau does.
HALVED = float(np.float32(0.1)) * 0.5
PLATEAU = {
    "type": "reduce_on_plateau",
    "monitor": "val_loss",
    "factor": 0.5,
    "patience": 1,
    "initial_learning_rate": 0.1,
}


def test_async_client_covers_every_resource(live_server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncClient(live_server.url) as client:
            assert (await client.health()).status == "ok"
            assert (await client.ready()).status == "ready"
            first = await client.put_schedule("plateau", PLATEAU, description="halve")
            second = await client.put_schedule("plateau", {**PLATEAU, "patience": 2})
            assert (first.version, second.version, second.etag) == (1, 2, '"plateau@2"')
            versions = await client.list_versions("plateau", limit=1)
            assert [v.version for v in versions.items] == [1] and versions.next_cursor
            later = await client.list_versions("plateau", cursor=versions.next_cursor)
            assert [v.version for v in later.items] == [2]
            assert (await client.get_schedule("plateau", version=1)).description == "halve"
            assert [s.name for s in (await client.list_schedules()).items] == ["plateau"]

            preview = await client.preview(
                schedule="plateau@1", epochs=3, metrics=[{"val_loss": 1.0}, {"val_loss": 2.0}]
            )
            assert preview.learning_rates == [0.1, 0.1, HALVED]

            job = await client.put_job("a-1", schedule="plateau@1", labels={"team": "x"})
            assert job.token and job.schedule.follow == "pinned"
            again = await client.put_job("a-1", schedule="plateau")
            assert again.token is None and again.schedule.version == 1
            decisions = [
                await client.decide("a-1", 0, metrics={}),
                await client.decide("a-1", 1, metrics={"val_loss": 1.0}),
                await client.decide("a-1", 2, metrics={"val_loss": 2.0}),
                await client.decide("a-1", 2, metrics={"val_loss": 2.0}),
            ]
            assert [d.learning_rate for d in decisions] == [0.1, 0.1, HALVED, HALVED]
            assert decisions[3].replayed and not decisions[2].replayed
            rewound = await client.decide("a-1", 2, metrics={"val_loss": 0.5})
            assert rewound.rewound and rewound.learning_rate == 0.1

            current = await client.get_job("a-1")
            assert current.last_epoch == 2 and current.etag
            patched = await client.patch_job("a-1", JobPatch(scale=0.5), if_match=current.etag)
            assert patched.scale == 0.5
            with pytest.raises(PreconditionFailed):
                await client.patch_job("a-1", JobPatch(scale=0.25), if_match=current.etag)
            history = await client.history("a-1", superseded=True)
            assert [(e.epoch, e.superseded) for e in history.items] == [
                (0, False), (1, False), (2, True), (2, False)
            ]  # fmt: skip
            series = await client.series("a-1")
            in_force = [e for e in history.items if not e.superseded]
            assert series.epochs == [0, 1, 2] and series.next_cursor is None
            assert series.learning_rates == [e.learning_rate for e in in_force]
            assert series.decided_at == [e.decided_at for e in in_force]
            head = await client.series("a-1", limit=2)
            assert head.epochs == [0, 1] and head.next_cursor
            rest = await client.series("a-1", limit=2, cursor=head.next_cursor)
            assert rest.epochs == [2] and rest.metrics == [None]
            csv_text = await client.history_csv("a-1")
            assert csv_text.splitlines()[0].startswith("epoch,learning_rate,reason")
            events = await client.events("a-1")
            assert [e.action for e in events.items] == ["create", "update"]
            change_id = events.items[-1].change_id
            assert change_id is not None
            change = await client.change(change_id)
            assert (change.job_id, change.body, change.state) == ("a-1", {"scale": 0.5}, "applied")
            assert [(job.before or {}).get("scale") for job in change.jobs] == [1.0]
            assert series.reductions == [e.reductions for e in in_force]
            jobs = await client.list_jobs(labels={"team": "x"}, status="running")
            assert [j.job_id for j in jobs.items] == ["a-1"]

            with pytest.raises(Conflict):
                await client.delete_schedule("plateau")
            await client.patch_job("a-1", JobPatch(status="stopped"))
            await client.delete_schedule("plateau")
            with pytest.raises(NotFound):
                await client.get_schedule("plateau")

    asyncio.run(scenario())


def test_the_blocking_client_reads_a_series_as_the_history_in_force(
    live_server: ServerProcess,
) -> None:
    with Client(live_server.url) as client:
        client.put_job("series-1", spec=DROP)
        for epoch in range(5):
            client.decide("series-1", epoch, metrics={} if epoch == 0 else {"loss": 1.0 / epoch})
        client.decide("series-1", 3, metrics={"loss": 9.0})  # a rewind: 3 and 4 superseded
        in_force = client.history("series-1").items
        series = client.series("series-1")
    assert series.epochs == [e.epoch for e in in_force] == [0, 1, 2, 3]
    assert series.learning_rates == [e.learning_rate for e in in_force]
    assert series.reasons == [e.reason for e in in_force]
    assert series.metrics == [e.metrics for e in in_force]
    assert series.metrics[2] == {"loss": 9.0}


def test_both_clients_read_several_series_in_one_request(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client:
        for job_id, epochs in (("many-b", 3), ("many-a", 2)):
            client.put_job(job_id, spec=DROP)
            for epoch in range(epochs):
                client.decide(job_id, epoch, metrics={"loss": 1.0 + epoch})
        both = client.series_of(["many-b", "many-a"], fields=["learning_rates", "metrics"])
        own = {job_id: client.series(job_id) for job_id in ("many-a", "many-b")}
    assert [item.job_id for item in both.items] == ["many-a", "many-b"]
    for item in both.items:
        assert item.epochs == own[item.job_id].epochs
        assert item.learning_rates == own[item.job_id].learning_rates
        assert item.metrics == own[item.job_id].metrics
        assert item.reasons is None  # not asked for
    assert both.next_cursor is None

    async def paged() -> list[list[int]]:
        async with AsyncClient(live_server.url) as client:
            first = await client.series_of(["many-a", "many-b"], limit=4)
            assert first.next_cursor is not None
            rest = await client.series_of(["many-a", "many-b"], limit=4, cursor=first.next_cursor)
            return [item.epochs for page in (first, rest) for item in page.items]

    assert asyncio.run(paged()) == [[0, 1], [0, 1], [2]]


def test_validation_errors_name_the_field(live_server: ServerProcess) -> None:
    with Client(live_server.url) as client, pytest.raises(ValidationError) as caught:
        client.put_schedule("bad", {**PLATEAU, "factor": 1.5})
    assert any("factor" in str(error.get("loc")) for error in caught.value.errors)


def test_tokens_from_the_environment_and_job_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_server(tmp_path, env={"LRHUB_ADMIN_TOKEN": "alice:s3cret-admin-token"}) as server:
        with Client(server.url, token="wrong") as stranger, pytest.raises(Unauthorized):
            stranger.list_jobs()
        monkeypatch.setenv("LRHUB_TOKEN", "s3cret-admin-token")
        with Client(server.url) as admin:
            token = admin.put_job("t-1", spec={"type": "constant", "learning_rate": 0.1}).token
            admin.put_job("t-2", spec={"type": "constant", "learning_rate": 0.2})
            assert [e.actor for e in admin.events("t-1").items] == ["alice"]
        assert token is not None
        with Client(server.url, token=token) as job:
            assert job.decide("t-1", 0, metrics={}).learning_rate == 0.1
            with pytest.raises(Forbidden):
                job.decide("t-2", 0, metrics={})


def test_async_client_manages_tokens_and_rotates_job_tokens(tmp_path: Path) -> None:
    admin_secret = "async-admin-secret-long"
    env = {"LRHUB_ADMIN_TOKEN": f"ops:{admin_secret}"}

    async def scenario(url: str) -> None:
        async with AsyncClient(url, token=admin_secret) as admin:
            created = await admin.create_token("ci", role="operator", expires_in=600)
            assert (created.name, created.role, created.created_by) == ("ci", "operator", "ops")
            assert created.expires_at is not None and created.last_used_at is None
            async with AsyncClient(url, token=created.token) as operator:
                job = await operator.put_job("a-1", spec={"type": "constant", "learning_rate": 0.1})
                assert job.token is not None
                rotated = await operator.rotate_job_token("a-1")
            assert rotated.job_id == "a-1" and rotated.token != job.token
            page = await admin.list_tokens()
            assert [t.name for t in page.items] == ["ci"] and page.items[0].last_used_at
            await admin.revoke_token("ci")
            async with AsyncClient(url, token=created.token) as revoked:
                with pytest.raises(Unauthorized):
                    await revoked.list_jobs()
            async with AsyncClient(url, token=job.token) as old_job:
                with pytest.raises(Unauthorized):
                    await old_job.decide("a-1", 0, metrics={})

    with running_server(tmp_path, env=env) as server:
        asyncio.run(scenario(server.url))


def test_async_client_follows_the_stream_and_resumes_after_an_id(
    live_server: ServerProcess,
) -> None:
    async def take(client: AsyncClient, count: int, **filters: Any) -> list[StreamEvent]:
        taken: list[StreamEvent] = []
        async for event in client.stream(**filters):
            taken.append(event)
            if len(taken) == count:
                break
        return taken

    async def scenario() -> None:
        async with AsyncClient(live_server.url) as client:
            await client.put_job("streamed", spec=DROP)
            await client.put_job("other", spec=DROP)
            # From the start (after=0): the creations, then decisions made while we listen.
            following = asyncio.create_task(take(client, 4, job="streamed", after=0))
            for epoch in range(3):
                await client.decide("streamed", epoch, metrics={})
                await client.decide("other", epoch, metrics={})
            events = await asyncio.wait_for(following, timeout=30)
            assert [event.event for event in events] == ["change", "decision", "decision",
                                                         "decision"]  # fmt: skip
            assert all(event.data["job_id"] == "streamed" for event in events)
            assert [event.data["epoch"] for event in events[1:]] == [0, 1, 2]
            ids = [event.id for event in events]
            assert ids == sorted(ids) and len(set(ids)) == 4
            # Resuming after the second event gives the third and fourth again, nothing else.
            resumed = await asyncio.wait_for(
                take(client, 2, job="streamed", after=ids[1]), timeout=30
            )
            assert [event.id for event in resumed] == ids[2:]
            with pytest.raises(ValidationError, match="selector"):
                await take(client, 1, selector="team in (a")

    asyncio.run(scenario())
