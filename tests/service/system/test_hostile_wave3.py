"""Careless and hostile requests against the newer surfaces (webhooks and their deliveries,
changes and bulk changes, rollouts, the series and the CSV history) on a real server, on SQLite
and on PostgreSQL: each is a 4xx problem naming what is wrong, none leaks internals, none changes
anything (no webhook created, no job changed), and the server logs no crash.

The classes are those the older surfaces were hardened against: bytes the database refuses
(NUL, unpaired surrogates), non-ASCII digits, huge values, cursors the server never gave out.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.postgres import BOTH_DATABASES, database_for
from tests.support.problems import assert_problem
from tests.support.raw_http import send_raw
from tests.support.server import ServerProcess, running_server

WITNESS = "wave3-witness"
SPEC = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}
WEBHOOK_KEY = "k" * 40
HOOK = {"url": "http://127.0.0.1:9/lrhub", "events": ["job.completed"]}
JSON_HEADERS = {"Content-Type": "application/json"}
A_CHANGE = "00000000-0000-4000-8000-000000000000"
UNSTORABLE = ("nul", "u0000", "surrogate")


def as_json(value: object) -> bytes:
    return json.dumps(value).encode()


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Hostile:
    """One bad request and the status (and one of the words of the detail) it must get."""

    method: str
    path: str
    body: bytes = b""
    status: int | tuple[int, ...] = 422
    words: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def hook(body: dict[str, Any] | bytes, *words: str, status: int = 422) -> Hostile:
    raw = body if isinstance(body, bytes) else as_json(body)
    return Hostile("POST", "/v1/webhooks", raw, status, words)


ROLLOUT: dict[str, Any] = {
    "selector": "team=a",
    "change": {"scale": 0.5},
    "canary": 0.5,
    "analysis": {"metric": "val_loss", "mode": "min", "epochs": 2, "max_regression": 0.02},
}


def rollout(
    body: dict[str, Any] | bytes, *words: str, status: int | tuple[int, ...] = 422
) -> Hostile:
    raw = body if isinstance(body, bytes) else as_json({**ROLLOUT, **body})
    return Hostile("POST", "/v1/rollouts", raw, status, words)


def analysis(**fields: object) -> dict[str, Any]:
    return {"analysis": {**ROLLOUT["analysis"], **fields}}


def bulk(selector: str, body: object = None, *words: str, key: str | None = None) -> Hostile:
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if key is not None:
        headers += (("Idempotency-Key", key),)
    payload = as_json({"scale": 2.0} if body is None else body)
    return Hostile("PATCH", f"/v1/jobs?selector={selector}", payload, 422, words, headers)


BAD_POSITIONS = {
    "nul": "\x00", "arabic-three": "\u0663", "superscript-two": "\u00b2", "negative": "-1",
    "huge": str(10**30), "beyond-int32": str(2**31), "empty": "", "space": " 1",
}  # fmt: skip
DELIVERIES = "/v1/webhooks/wh_" + "0" * 32 + "/deliveries"
TABLE = [
    # Webhook targets and subscriptions.
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:9/a\x00b"}, *UNSTORABLE, "url"),
                 id="webhook-url-nul"),
    pytest.param(hook(b'{"url": "http://127.0.0.1:9/\\ud800", "events": ["change"]}',
                      *UNSTORABLE, "url"), id="webhook-url-surrogate"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:9/" + "a" * 5000}, "url"),
                 id="webhook-url-huge"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:\u0668\u0660/x"}, "url", "port"),
                 id="webhook-url-arabic-port"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:99999/x"}, "url", "port"),
                 id="webhook-url-port-out-of-range"),
    pytest.param(hook({**HOOK, "url": "ftp://127.0.0.1/x"}, "url", "http"),
                 id="webhook-url-not-http"),
    pytest.param(hook({**HOOK, "url": "https://"}, "url", "host"), id="webhook-url-no-host"),
    pytest.param(hook({**HOOK, "url": "http://127.0\u0000.0.1/"}, *UNSTORABLE, "url"),
                 id="webhook-host-nul"),
    pytest.param(hook({**HOOK, "url": 12}, "url", "string"), id="webhook-url-a-number"),
    pytest.param(hook({**HOOK, "url": "http://[::1/x"}, "url"), id="webhook-url-broken-ipv6"),
    pytest.param(hook({**HOOK, "url": "http://" + "a" * 64 + ".example/"}, "url", "host"),
                 id="webhook-host-label-too-long"),
    pytest.param(hook({**HOOK, "url": "http://" + "a." * 200 + "example/"}, "url", "host"),
                 id="webhook-host-too-long"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:9/a\r\nX-Injected: 1"}, "url"),
                 id="webhook-url-crlf"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:0/x"}, "url", "port"),
                 id="webhook-url-port-zero"),
    pytest.param(hook({**HOOK, "url": "http://xn--/x"}, "url", "host"),
                 id="webhook-host-bad-punycode"),
    pytest.param(hook({**HOOK, "url": "http://127.0.0.1:-1/x"}, "url", "port"),
                 id="webhook-url-port-negative"),
    pytest.param(hook({**HOOK, "events": []}, "events"), id="webhook-events-empty"),
    pytest.param(hook({**HOOK, "events": ["job.exploded"]}, "events"),
                 id="webhook-event-unknown"),
    pytest.param(hook({**HOOK, "events": ["change\x00"]}, "events"), id="webhook-event-nul"),
    pytest.param(hook({**HOOK, "events": ["change"] * 1000}, "events"),
                 id="webhook-events-thousand"),
    pytest.param(hook({**HOOK, "selector": "team=a\x00"}, *UNSTORABLE, "selector"),
                 id="webhook-selector-nul"),
    pytest.param(hook({**HOOK, "selector": "team=" + "a" * 100_000}, "selector"),
                 id="webhook-selector-huge"),
    pytest.param(hook({**HOOK, "selector": "team in (\u0663"}, "selector"),
                 id="webhook-selector-unparsable"),
    pytest.param(hook({**HOOK, "secret": "mine"}, "secret"), id="webhook-unknown-field"),
    pytest.param(hook(b"[]", "body", "object", "dict", status=422), id="webhook-body-a-list"),
    pytest.param(Hostile("DELETE", "/v1/webhooks/wh_%D9%A3", status=422,
                         words=("webhook_id", "path")), id="webhook-delete-bad-id"),
    pytest.param(Hostile("DELETE", "/v1/webhooks/wh_" + "0" * 32, status=404,
                         words=("webhook",)), id="webhook-delete-unknown"),
    pytest.param(Hostile("GET", DELIVERIES, status=404, words=("webhook",)),
                 id="deliveries-unknown-webhook"),
    *[
        pytest.param(Hostile("GET", f"{DELIVERIES}?cursor={cursor(text)}", words=("cursor",)),
                     id=f"deliveries-cursor-{name}")
        for name, text in BAD_POSITIONS.items()
    ],
    *[
        pytest.param(Hostile("GET", f"/v1/webhooks?cursor={cursor(text)}", words=("cursor",)),
                     id=f"webhooks-cursor-{name}")
        for name, text in BAD_POSITIONS.items()
    ],
    pytest.param(Hostile("GET", "/v1/webhooks?cursor=%00", words=("cursor",)),
                 id="webhooks-cursor-raw-nul"),
    pytest.param(Hostile("GET", "/v1/webhooks?limit=%D9%A3", words=("limit",)),
                 id="webhooks-limit-arabic-digit"),
    pytest.param(Hostile("GET", "/v1/webhooks?limit=" + "9" * 40, words=("limit",)),
                 id="webhooks-limit-huge"),
    pytest.param(Hostile("GET", "/v1/webhooks?limit=0", words=("limit",)),
                 id="webhooks-limit-zero"),
    pytest.param(Hostile("GET", "/v1/stream?after=%D9%A3", words=("after",)),
                 id="stream-after-arabic-digit"),
    pytest.param(Hostile("GET", "/v1/stream?selector=team%3Da%00", words=UNSTORABLE),
                 id="stream-selector-nul"),
    # Changes.
    pytest.param(Hostile("GET", "/v1/changes/not-a-change", words=("change_id", "path")),
                 id="change-bad-id"),
    pytest.param(Hostile("GET", "/v1/changes/" + "-" * 36, status=(404, 422),
                         words=("change",)), id="change-dashes"),
    pytest.param(Hostile("GET", f"/v1/changes/{A_CHANGE}", status=404, words=("change",)),
                 id="change-unknown"),
    *[
        pytest.param(Hostile("GET", f"/v1/changes/{A_CHANGE}?cursor={cursor(text)}",
                             words=("cursor",)), id=f"change-cursor-{name}")
        for name, text in {"nul": "a\x00", "slash": "a/b", "long": "j" * 300}.items()
    ],
    pytest.param(bulk("team=a%00", None, *UNSTORABLE, "selector"), id="bulk-selector-nul"),
    pytest.param(bulk("team%3D" + "a" * 20_000, None, "selector"), id="bulk-selector-huge"),
    pytest.param(bulk("", None, "selector"), id="bulk-selector-empty"),
    pytest.param(bulk("team=a", {"scale": 2.0}, "idempotency", key="a b"),
                 id="bulk-key-space"),
    pytest.param(bulk("team=a", {"scale": 2.0}, "idempotency", key="k" * 500),
                 id="bulk-key-huge"),
    pytest.param(bulk("team=a", {"scale": 2.0}, "idempotency", key="k\u00e9y"),
                 id="bulk-key-latin1"),
    pytest.param(Hostile("PATCH", "/v1/jobs?selector=team=a", b'{"scale": 1e999}', (400, 422),
                         ("scale", "finite", "json")), id="bulk-scale-overflowing-literal"),
    pytest.param(bulk("team=a", {"scale": "\u0663"}, "scale"), id="bulk-scale-arabic-digit"),
    pytest.param(bulk("team=a", {"labels": {"team": "\x00"}}, *UNSTORABLE, "labels"),
                 id="bulk-label-nul"),
    pytest.param(Hostile("PATCH", "/v1/jobs?selector=team=a&limit=%D9%A3",
                         as_json({"scale": 2.0}), 422, ("limit",)), id="bulk-limit-arabic-digit"),
    pytest.param(Hostile("PATCH", "/v1/jobs?selector=team=a&cursor=" + cursor("a\x00"),
                         as_json({"scale": 2.0}), 422, ("cursor",)), id="bulk-cursor-nul"),
    # The series and the CSV history.
    *[
        pytest.param(Hostile("GET", f"/v1/jobs/{WITNESS}/series?cursor={cursor(text)}",
                             words=("cursor",)), id=f"series-cursor-{name}")
        for name, text in BAD_POSITIONS.items()
    ],
    pytest.param(Hostile("GET", f"/v1/jobs/{WITNESS}/series?limit=%D9%A3", words=("limit",)),
                 id="series-limit-arabic-digit"),
    pytest.param(Hostile("GET", f"/v1/jobs/{WITNESS}/series?limit=1000001", words=("limit",)),
                 id="series-limit-huge"),
    # Several jobs' series: the job list, the columns, the cursor.
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS},a%00b", words=("jobs",)),
                 id="series-of-jobs-nul"),
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS},%ED%A0%80", words=("jobs",)),
                 id="series-of-jobs-surrogate"),
    pytest.param(Hostile("GET", "/v1/series?jobs=" + ",".join(f"j{i}" for i in range(101)),
                         words=("LRHUB_MAX_SERIES_JOBS",)), id="series-of-jobs-too-many"),
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS},nobody", status=404,
                         words=("nobody",)), id="series-of-jobs-unknown"),
    pytest.param(Hostile("GET", "/v1/series?jobs=,,", words=("jobs",)),
                 id="series-of-jobs-empty"),
    pytest.param(Hostile("GET", "/v1/series", words=("jobs",)), id="series-of-jobs-missing"),
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS}&fields=rates", words=("fields",)),
                 id="series-of-jobs-bad-field"),
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS}&fields=metrics%00",
                         words=("fields",)), id="series-of-jobs-field-nul"),
    pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS}&limit=%D9%A3", words=("limit",)),
                 id="series-of-jobs-limit-arabic-digit"),
    *[
        pytest.param(Hostile("GET", f"/v1/series?jobs={WITNESS}&cursor={cursor(text)}",
                             words=("cursor",)), id=f"series-of-jobs-cursor-{name}")
        for name, text in {**BAD_POSITIONS, "no-epoch": WITNESS, "nul-job": "a\x00b 1",
                           "huge-epoch": f"{WITNESS} {10**30}"}.items()
    ],
    pytest.param(Hostile("GET", f"/v1/jobs/{WITNESS}/epochs.csv?superseded=%00",
                         words=("superseded",)), id="csv-superseded-nul"),
    pytest.param(Hostile("GET", f"/v1/jobs/{WITNESS}/epochs?format=x%00",
                         words=("format",)), id="history-format-nul"),
    pytest.param(Hostile("GET", "/v1/jobs/a%00b/epochs.csv", words=("job_id", "path")),
                 id="csv-job-nul"),
    pytest.param(Hostile("GET", "/v1/jobs/a%00b/series", words=("job_id", "path")),
                 id="series-job-nul"),
    # Rollouts: their body, their ids and their list.
    pytest.param(rollout({"selector": "team=a\x00"}, *UNSTORABLE, "selector"),
                 id="rollout-selector-nul"),
    pytest.param(rollout({"selector": "team in (a"}, "selector"), id="rollout-selector-bad"),
    pytest.param(rollout({"selector": "team=nobody"}, "selector"), id="rollout-selects-nothing"),
    pytest.param(rollout({"canary": 1.5}, "canary"), id="rollout-canary-above-one"),
    pytest.param(rollout({"canary": 0}, "canary"), id="rollout-canary-zero"),
    pytest.param(rollout({"canary": {"count": 0}}, "count"), id="rollout-count-zero"),
    pytest.param(rollout({"canary": {"count": 10**30}}, "canary"), id="rollout-count-huge"),
    pytest.param(rollout({"canary": "\u0663"}, "canary"), id="rollout-canary-arabic-digit"),
    pytest.param(rollout(b'{"canary": 1e999}', status=(400, 422)),
                 id="rollout-canary-overflow"),
    pytest.param(rollout({"change": {"nonsense": 1}}, "nonsense"), id="rollout-change-unknown"),
    pytest.param(rollout({"change": {}}, "change"), id="rollout-change-empty"),
    pytest.param(rollout({"change": {"labels": {"team": "\x00"}}}, *UNSTORABLE, "labels"),
                 id="rollout-change-label-nul"),
    pytest.param(rollout(analysis(metric="val\x00loss"), "metric"), id="rollout-metric-nul"),
    pytest.param(rollout(analysis(epochs="\u0663"), "epochs"), id="rollout-epochs-arabic"),
    pytest.param(rollout(analysis(epochs=10**30), "epochs"), id="rollout-epochs-huge"),
    pytest.param(rollout(analysis(mode="sideways"), "mode"), id="rollout-mode-unknown"),
    pytest.param(rollout(analysis(max_regression=-1), "max_regression"),
                 id="rollout-regression-negative"),
    pytest.param(rollout({"seed": "s\x00"}, *UNSTORABLE, "seed"), id="rollout-seed-nul"),
    pytest.param(Hostile("GET", "/v1/rollouts/" + "-" * 36, status=(404, 422)),
                 id="rollout-id-dashes"),
    pytest.param(Hostile("GET", "/v1/rollouts/a%00b", words=("rollout_id", "path")),
                 id="rollout-id-nul"),
    pytest.param(Hostile("POST", f"/v1/rollouts/{A_CHANGE}/promote", status=404,
                         words=("rollout",)), id="rollout-promote-unknown"),
    pytest.param(Hostile("POST", "/v1/rollouts/" + "-" * 36 + "/revert", status=(404, 422)),
                 id="rollout-revert-dashes"),
    pytest.param(Hostile("GET", "/v1/rollouts?limit=%D9%A3", words=("limit",)),
                 id="rollouts-limit-arabic-digit"),
    *[
        pytest.param(Hostile("GET", f"/v1/rollouts?cursor={cursor(text)}", words=("cursor",)),
                     id=f"rollouts-cursor-{name}")
        for name, text in BAD_POSITIONS.items()
    ],
]  # fmt: skip


@pytest.fixture(scope="module", params=BOTH_DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The table runs once on SQLite and once on PostgreSQL (LRHUB_TEST_DATABASE_URL)."""
    with database_for(request, tmp_path_factory.mktemp("wave3-db"), "lrhub_wave3") as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[ServerProcess]:
    """A server that can hold webhooks (none delivered: this process only writes the outbox),
    with a witness job that has a history, a change and one webhook."""
    env = {
        "LRHUB_WEBHOOK_KEY": WEBHOOK_KEY,
        "LRHUB_WEBHOOK_DELIVER": "false",
        "LRHUB_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with (
        running_server(tmp_path_factory.mktemp("wave3"), database_url=database_url,
                       env=env) as live,
        httpx.Client(base_url=live.url, timeout=30.0) as client,
    ):  # fmt: skip
        created = client.put(f"/v1/jobs/{WITNESS}", json={"spec": SPEC, "labels": {"team": "a"}})
        assert created.status_code == 201, created.text
        for epoch in range(3):
            answer = client.post(f"/v1/jobs/{WITNESS}/epochs/{epoch}", json={"metrics": {}})
            assert answer.status_code == 200, answer.text
        assert client.patch(f"/v1/jobs/{WITNESS}", json={"scale": 0.5}).status_code == 200
        assert client.post("/v1/webhooks", json=HOOK).status_code == 201
        yield live


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


def snapshot(client: httpx.Client) -> dict[str, str]:
    """Everything a request could have changed: the witness and its records, the webhooks and
    the rollouts."""
    reads = {
        "job": client.get(f"/v1/jobs/{WITNESS}"),
        "history": client.get(f"/v1/jobs/{WITNESS}/epochs"),
        "csv": client.get(f"/v1/jobs/{WITNESS}/epochs.csv"),
        "series": client.get(f"/v1/jobs/{WITNESS}/series"),
        "events": client.get(f"/v1/jobs/{WITNESS}/events"),
        "webhooks": client.get("/v1/webhooks"),
        "rollouts": client.get("/v1/rollouts"),
        "jobs": client.get("/v1/jobs"),
    }
    for name, response in reads.items():
        assert response.status_code == 200, (name, response.text)
    return {name: response.text for name, response in reads.items()}


@pytest.fixture(scope="module")
def before(http: httpx.Client) -> dict[str, str]:
    return snapshot(http)


@pytest.mark.parametrize("hostile", TABLE)
def test_hostile_request_on_a_newer_surface_is_a_clear_4xx(
    server: ServerProcess, http: httpx.Client, before: dict[str, str], hostile: Hostile
) -> None:
    answer = send_raw(server.port, hostile.method, hostile.path, hostile.body, hostile.headers)
    assert_problem(
        answer.status,
        answer.headers.get("content-type"),
        answer.body,
        expected_status=hostile.status,
        detail_words=hostile.words,
    )
    assert http.get("/readyz").status_code == 200
    assert "Traceback" not in server.log(), server.log()[-5000:]
    assert snapshot(http) == before
