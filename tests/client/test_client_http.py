"""Client unit tests on `httpx.MockTransport`: request shapes, retries, error mapping, settings."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from lrhub.client import (
    AsyncClient,
    BadRequest,
    Client,
    ClientSettings,
    Conflict,
    ConnectError,
    EvaluationFailed,
    Forbidden,
    JobPatch,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ProblemError,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    Timeout,
    TransportError,
    Unauthorized,
    ValidationError,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
JOB = {
    "job_id": "train-1",
    "status": "running",
    "schedule": {"name": "drop", "version": 2, "follow": "latest"},
    "spec": {"type": "constant", "learning_rate": 0.1},
    "scale": 1.0,
    "override": None,
    "paused": False,
    "labels": {"team": "vision"},
    "clock_origin": 0,
    "last_epoch": 3,
    "learning_rate": 0.1,
    "state": {},
    "created_at": NOW,
    "updated_at": NOW,
}
DECISION = {
    "job_id": "train-1",
    "epoch": 4,
    "learning_rate": 0.05,
    "step_learning_rates": None,
    "reason": "step",
    "stop": False,
    "schedule": {"name": "drop", "version": 2},
    "replayed": False,
    "rewound": False,
    "gap": 0,
    "state": {},
    "decided_at": NOW,
}

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, slug: str, **extra: object) -> httpx.Response:
    body = {
        "type": f"https://lrhub.dev/problems/{slug}",
        "title": slug.replace("-", " "),
        "status": status,
        "detail": f"detail of {slug}",
        **extra,
    }
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering `answers` in turn (raising the exceptions), recording each request."""
    seen: list[httpx.Request] = []
    pending = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = pending.pop(0) if len(pending) > 1 else pending[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the client's backoff waits instead of waiting."""
    recorded: list[float] = []

    async def async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr("lrhub.client._sync.sleep", recorded.append)
    monkeypatch.setattr("lrhub.client._async.sleep", async_sleep)
    yield recorded


def client_for(handler: Handler, **options: object) -> Client:
    return Client("http://lrhub.test", transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


def test_decide_sends_metrics_null_when_unknown_and_empty_object_when_none_observed() -> None:
    handler, seen = scripted(httpx.Response(200, json=DECISION))
    with client_for(handler) as client:
        client.decide("train-1", 4, metrics=None)
        client.decide("train-1", 0, metrics={}, steps_per_epoch=12)
        decision = client.decide("train-1", 4, metrics={"val_loss": 0.25})
    assert [json.loads(r.content) for r in seen] == [
        {"metrics": None, "steps_per_epoch": None},
        {"metrics": {}, "steps_per_epoch": 12},
        {"metrics": {"val_loss": 0.25}, "steps_per_epoch": None},
    ]
    assert [r.url.path for r in seen] == [f"/v1/jobs/train-1/epochs/{n}" for n in (4, 0, 4)]
    assert decision.learning_rate == 0.05 and decision.schedule.version == 2


def test_patch_sends_only_the_fields_set_and_if_match() -> None:
    handler, seen = scripted(httpx.Response(200, json=JOB, headers={"ETag": '"train-1#4"'}))
    with client_for(handler) as client:
        job = client.patch_job(
            "train-1", JobPatch(override=None, scale=0.5), if_match='"train-1#3"'
        )
    assert json.loads(seen[0].content) == {"override": None, "scale": 0.5}
    assert seen[0].method == "PATCH" and seen[0].headers["If-Match"] == '"train-1#3"'
    assert job.etag == '"train-1#4"' and job.labels == {"team": "vision"}


def test_list_jobs_repeats_label_filters_and_quotes_path_segments() -> None:
    page = {"items": [JOB], "next_cursor": "abc"}
    handler, seen = scripted(httpx.Response(200, json=page), httpx.Response(404, json={}))
    with client_for(handler) as client:
        jobs = client.list_jobs(labels={"team": "vision", "tier": "a"}, status="running", limit=5)
        with pytest.raises(NotFound):
            client.get_job("a/b")
    assert seen[0].url.params.multi_items() == [
        ("label", "team=vision"),
        ("label", "tier=a"),
        ("status", "running"),
        ("limit", "5"),
    ]
    assert seen[1].url.raw_path == b"/v1/jobs/a%2Fb"
    assert jobs.next_cursor == "abc" and jobs.items[0].job_id == "train-1"


def test_connection_errors_are_retried_with_full_jitter_backoff(sleeps: list[float]) -> None:
    refused = httpx.ConnectError("refused")
    handler, seen = scripted(refused, refused, httpx.Response(200, json=DECISION))
    retry = RetryPolicy(max_retries=3, backoff=0.5, max_backoff=8.0)
    with client_for(handler, retry=retry) as client:
        assert client.decide("train-1", 4, metrics={}).epoch == 4
    assert len(seen) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_429_honours_retry_after(sleeps: list[float]) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"status": 429})
    handler, seen = scripted(limited, httpx.Response(200, json=DECISION))
    with client_for(handler) as client:
        client.decide("train-1", 4, metrics={})
    assert sleeps == [2.0] and len(seen) == 2


def test_503_is_retried_then_raised_after_the_bounded_attempts(sleeps: list[float]) -> None:
    handler, seen = scripted(problem(503, "unavailable"))
    with client_for(handler, max_retries=2) as client, pytest.raises(ServiceUnavailable) as caught:
        client.get_job("train-1")
    assert len(seen) == 3 and len(sleeps) == 2
    assert caught.value.status == 503 and caught.value.detail == "detail of unavailable"


@pytest.mark.parametrize("status", [400, 404, 409, 412, 422])
def test_client_errors_are_not_retried(status: int, sleeps: list[float]) -> None:
    handler, seen = scripted(httpx.Response(status, json={"status": status}))
    with client_for(handler) as client, pytest.raises(ProblemError):
        client.get_job("train-1")
    assert len(seen) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "slug", "expected"),
    [
        (400, "malformed-request", BadRequest),
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (404, "not-found", NotFound),
        (409, "conflict", Conflict),
        (412, "precondition-failed", PreconditionFailed),
        (413, "payload-too-large", PayloadTooLarge),
        (422, "validation-error", ValidationError),
        (422, "evaluation-error", EvaluationFailed),
        (429, "rate-limited", RateLimited),
        (503, "unavailable", ServiceUnavailable),
        (500, "internal-error", ServerError),
    ],
)
def test_every_problem_type_maps_to_its_exception(
    status: int, slug: str, expected: type[ProblemError]
) -> None:
    errors = [{"loc": "body.spec.factor", "msg": "must be < 1"}]
    handler, _ = scripted(problem(status, slug, errors=errors, instance="/v1/jobs/x"))
    with client_for(handler, max_retries=0) as client, pytest.raises(ProblemError) as caught:
        client.get_job("x")
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.type == f"https://lrhub.dev/problems/{slug}"
    assert caught.value.detail == f"detail of {slug}"
    assert caught.value.errors == errors and caught.value.instance == "/v1/jobs/x"


def test_a_problem_s_extension_members_are_kept() -> None:
    body = {"type": "https://lrhub.dev/problems/unavailable", "title": "Service unavailable",
            "status": 503, "detail": "stopped after 3 of 9 jobs", "change_id": "c-1"}  # fmt: skip
    handler, seen = scripted(httpx.Response(503, json=body))
    with client_for(handler, max_retries=0) as client, pytest.raises(ServiceUnavailable) as caught:
        client.patch_jobs("team=a", JobPatch(scale=0.5))
    assert caught.value.extensions == {"change_id": "c-1"} and len(seen) == 1


def test_an_answer_without_problem_body_maps_on_status() -> None:
    handler, _ = scripted(httpx.Response(502, text="<html>bad gateway</html>"))
    with client_for(handler, max_retries=0) as client, pytest.raises(ServerError) as caught:
        client.health()
    assert caught.value.status == 502 and caught.value.title == "Bad Gateway"


def test_timeouts_are_retried_for_idempotent_calls_only(sleeps: list[float]) -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"))
    with client_for(handler, max_retries=1) as client:
        with pytest.raises(Timeout):
            client.decide("train-1", 4, metrics={})
        assert len(seen) == 2
        with pytest.raises(Timeout):
            client.patch_job("train-1", JobPatch(scale=0.5))
        assert len(seen) == 3


def test_a_real_socket_that_never_answers_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        # Listening but never accepting: the connect succeeds, the answer never comes.
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with Client(url, timeout=0.2, max_retries=0) as client, pytest.raises(Timeout):
            client.health()


def test_a_refused_connection_raises_connect_error_after_retries(sleeps: list[float]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        client = Client(f"http://127.0.0.1:{port}", max_retries=2)
        with client, pytest.raises(ConnectError) as caught:
            client.health()
    assert isinstance(caught.value, TransportError) and len(sleeps) == 2


def test_settings_come_from_lrhub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRHUB_URL", "http://lrhub.test:9000/")
    monkeypatch.setenv("LRHUB_TOKEN", "s3cret")
    monkeypatch.setenv("LRHUB_JOB_ID", "train-7")
    monkeypatch.setenv("LRHUB_TIMEOUT", "2.5")
    monkeypatch.setenv("LRHUB_MAX_RETRIES", "5")
    handler, seen = scripted(httpx.Response(200, json={"status": "ok"}))
    with Client(transport=httpx.MockTransport(handler)) as client:
        client.health()
        assert (client.url, client.job_id, client.timeout) == (
            "http://lrhub.test:9000",
            "train-7",
            2.5,
        )
        assert client.retry.max_retries == 5
    assert str(seen[0].url) == "http://lrhub.test:9000/healthz"
    assert seen[0].headers["Authorization"] == "Bearer s3cret"
    explicit = Client("http://other.test", token="t2", timeout=1.0, max_retries=0)
    assert (explicit.url, explicit.token, explicit.timeout) == ("http://other.test", "t2", 1.0)
    assert explicit.retry.max_retries == 0


def test_settings_defaults_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "TOKEN", "JOB_ID", "TIMEOUT", "MAX_RETRIES"):
        monkeypatch.delenv(f"LRHUB_{name}", raising=False)
    settings = ClientSettings()
    assert settings.url == "http://127.0.0.1:8000" and settings.token is None
    monkeypatch.setenv("LRHUB_TIMEOUT", "-1")
    with pytest.raises(ValueError, match="timeout"):
        ClientSettings()


def _every_call(client: Client) -> list[object]:
    results: list[object] = [
        client.put_schedule("drop", {"type": "constant", "learning_rate": 0.1}, if_match='"d@1"'),
        client.get_schedule("drop", version=1),
        client.list_versions("drop", limit=2, cursor="c"),
        client.preview(spec={"type": "constant", "learning_rate": 0.1}, epochs=3, metrics=[{}]),
        client.put_job("train-1", schedule="drop", labels={"team": "vision"}),
        client.decide("train-1", 4, metrics={"val_loss": 1.0}, steps_per_epoch=3),
        client.history_csv("train-1", superseded=True),
    ]
    client.delete_schedule("drop")
    return results


async def _every_async_call(client: AsyncClient) -> list[object]:
    results: list[object] = [
        await client.put_schedule(
            "drop", {"type": "constant", "learning_rate": 0.1}, if_match='"d@1"'
        ),
        await client.get_schedule("drop", version=1),
        await client.list_versions("drop", limit=2, cursor="c"),
        await client.preview(
            spec={"type": "constant", "learning_rate": 0.1}, epochs=3, metrics=[{}]
        ),
        await client.put_job("train-1", schedule="drop", labels={"team": "vision"}),
        await client.decide("train-1", 4, metrics={"val_loss": 1.0}, steps_per_epoch=3),
        await client.history_csv("train-1", superseded=True),
    ]
    await client.delete_schedule("drop")
    return results


def _canned(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    schedule = {"name": "drop", "version": 1, "spec": {}, "created_at": NOW, "versions": 1}
    if request.method == "DELETE":
        return httpx.Response(204)
    if path.endswith("/versions"):
        return httpx.Response(200, json={"items": [schedule], "next_cursor": None})
    if path.startswith("/v1/schedules"):
        return httpx.Response(200, json=schedule, headers={"ETag": '"drop@1"'})
    if path == "/v1/preview":
        return httpx.Response(200, json={"learning_rates": [0.1] * 3, "reasons": ["c"] * 3})
    if path.endswith("/epochs.csv"):
        return httpx.Response(200, text="epoch,learning_rate\n0,0.1\n")
    if "/epochs/" in path:
        return httpx.Response(200, json=DECISION)
    return httpx.Response(201, json={**JOB, "token": "lrj_x"})


def test_sync_and_async_clients_send_the_same_requests_and_parse_the_same_answers() -> None:
    sync_seen: list[httpx.Request] = []
    async_seen: list[httpx.Request] = []

    def record(into: list[httpx.Request]) -> Handler:
        def handler(request: httpx.Request) -> httpx.Response:
            into.append(request)
            return _canned(request)

        return handler

    with Client(
        "http://lrhub.test", token="t", transport=httpx.MockTransport(record(sync_seen))
    ) as client:
        sync_results = _every_call(client)

    async def run() -> list[object]:
        transport = httpx.MockTransport(record(async_seen))
        async with AsyncClient("http://lrhub.test", token="t", transport=transport) as client:
            return await _every_async_call(client)

    async_results = asyncio.run(run())

    def shape(request: httpx.Request) -> tuple[object, ...]:
        headers = {k: v for k, v in request.headers.items() if k in ("authorization", "if-match")}
        return request.method, str(request.url), headers, request.content

    assert [shape(r) for r in sync_seen] == [shape(r) for r in async_seen]
    assert sync_results == async_results
    assert len(sync_seen) == 8


def test_async_client_retries_like_the_sync_one(sleeps: list[float]) -> None:
    handler, seen = scripted(
        httpx.ConnectError("refused"),
        problem(503, "unavailable"),
        httpx.Response(200, json=DECISION),
    )

    async def run() -> float:
        async with AsyncClient(
            "http://lrhub.test", transport=httpx.MockTransport(handler)
        ) as client:
            return (await client.decide("train-1", 4, metrics={})).learning_rate

    assert asyncio.run(run()) == 0.05
    assert len(seen) == 3 and len(sleeps) == 2
