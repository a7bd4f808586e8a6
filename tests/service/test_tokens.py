"""API tokens with roles, expiry and revocation; job-token rotation (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from lrhub.service.storage.database import make_engine
from lrhub.service.storage.tables import events, tokens
from tests.service.conftest import ADMIN_HEADERS, app_client
from tests.service.helpers import DROP, problem


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_token(client: TestClient, name: str, role: str, **body: Any) -> str:
    created = client.post("/v1/tokens", json={"name": name, "role": role, **body},
                          headers=ADMIN_HEADERS)  # fmt: skip
    assert created.status_code == 201, created.text
    secret: str = created.json()["token"]
    assert secret.startswith("lrt_")
    return secret


def new_job(client: TestClient, job_id: str, headers: dict[str, str] = ADMIN_HEADERS) -> str:
    created = client.put(f"/v1/jobs/{job_id}", json={"spec": DROP}, headers=headers)
    assert created.status_code == 201, created.text
    token: str = created.json()["token"]
    return token


def test_a_token_is_shown_once_listed_without_secret_and_stored_hashed(
    secure_api_on: TestClient, db_url: str
) -> None:
    api = secure_api_on
    created = api.post("/v1/tokens", json={"name": "ci", "role": "operator", "expires_in": 3600},
                       headers=ADMIN_HEADERS)  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert body["role"] == "operator" and body["created_by"] == "alice"
    assert body["last_used_at"] is None
    expires = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert expires == timedelta(hours=1)

    listed = api.get("/v1/tokens", headers=ADMIN_HEADERS).json()["items"]
    assert [item["name"] for item in listed] == ["ci"]
    assert "token" not in listed[0] and secret not in str(listed)

    engine = make_engine(db_url)
    with engine.connect() as connection:
        stored = connection.execute(select(tokens.c.token_hash)).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()

    # The first use is recorded.
    assert api.get("/v1/jobs", headers=bearer(secret)).status_code == 200
    used = api.get("/v1/tokens", headers=ADMIN_HEADERS).json()["items"][0]["last_used_at"]
    assert used is not None


def test_revoked_and_expired_tokens_answer_401(secure_api_on: TestClient, db_url: str) -> None:
    api = secure_api_on
    revoked = new_token(api, "revoked", "viewer")
    expiring = new_token(api, "expiring", "viewer", expires_in=60)
    for secret in (revoked, expiring):
        assert api.get("/v1/jobs", headers=bearer(secret)).status_code == 200

    assert api.delete("/v1/tokens/revoked", headers=ADMIN_HEADERS).status_code == 204
    problem(api.get("/v1/jobs", headers=bearer(revoked)), 401, "revoked")
    problem(api.delete("/v1/tokens/revoked", headers=ADMIN_HEADERS), 404, "revoked")

    # Expiry is a stored time: move it into the past rather than wait for it.
    engine = make_engine(db_url)
    with engine.begin() as connection:
        past = datetime.now(UTC) - timedelta(seconds=1)
        connection.execute(
            update(tokens).where(tokens.c.name == "expiring").values(expires_at=past)
        )
    engine.dispose()
    problem(api.get("/v1/jobs", headers=bearer(expiring)), 401, "expired")
    assert [t["name"] for t in api.get("/v1/tokens", headers=ADMIN_HEADERS).json()["items"]] == [
        "expiring"
    ]


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"name": "ops", "role": "job"}, 422, "role"),
        ({"name": "ops", "role": "root"}, 422, "role"),
        ({"name": "ops", "role": "viewer", "expires_in": "60"}, 422, "expires_in"),
        ({"name": "ops", "role": "viewer", "expires_in": 1}, 422, "expires_in"),
        ({"name": "a:b", "role": "viewer"}, 422, "name"),
        ({"name": "alice", "role": "viewer"}, 409, "alice"),
    ],
)
def test_token_requests_that_are_refused(
    secure_api: TestClient, body: dict[str, Any], status: int, word: str
) -> None:
    problem(secure_api.post("/v1/tokens", json=body, headers=ADMIN_HEADERS), status, word)
    assert secure_api.get("/v1/tokens", headers=ADMIN_HEADERS).json()["items"] == []


def test_a_token_name_is_taken_until_revoked(secure_api: TestClient) -> None:
    new_token(secure_api, "ci", "viewer")
    again = secure_api.post("/v1/tokens", json={"name": "ci", "role": "admin"},
                            headers=ADMIN_HEADERS)  # fmt: skip
    problem(again, 409, "ci")
    assert secure_api.delete("/v1/tokens/ci", headers=ADMIN_HEADERS).status_code == 204
    new_token(secure_api, "ci", "admin")


def test_without_admin_tokens_no_token_can_be_created(api: TestClient) -> None:
    problem(api.post("/v1/tokens", json={"name": "ci", "role": "viewer"}), 409, "auth is off")


# What each role may do: (method, path, body) → allowed. Jobs "theirs" (created by the admin) and
# the schedule "drop" exist; "mine" is created by the role's own token where it may create.
OPERATIONS: list[tuple[str, str, Any]] = [
    ("GET", "/v1/schedules", None),
    ("POST", "/v1/preview", {"spec": DROP, "epochs": 2}),
    ("PUT", "/v1/schedules/other", {"spec": DROP}),
    ("GET", "/v1/jobs", None),
    ("GET", "/v1/jobs/theirs", None),
    ("GET", "/v1/jobs/theirs/epochs", None),
    ("GET", "/v1/jobs/theirs/series", None),
    ("GET", "/v1/jobs/theirs/events", None),
    ("POST", "/v1/jobs/theirs/epochs/0", {}),
    ("PATCH", "/v1/jobs/theirs", {"scale": 0.5}),
    ("POST", "/v1/jobs/theirs/token", None),
    ("GET", "/v1/tokens", None),
]
ALLOWED = {
    "admin": set(range(len(OPERATIONS))),
    "operator": set(range(len(OPERATIONS) - 1)),
    "viewer": {0, 1, 3, 4, 5, 6, 7},
    "creator": {0, 1},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_each_role_may_do_what_it_is_for_and_nothing_else(
    secure_api_on: TestClient, role: str
) -> None:
    api = secure_api_on
    assert api.put("/v1/schedules/drop", json={"spec": DROP}, headers=ADMIN_HEADERS).is_success
    new_job(api, "theirs")
    headers = bearer(new_token(api, f"{role}-token", role))
    for index, (method, path, body) in enumerate(OPERATIONS):
        answer = api.request(method, path, json=body, headers=headers)
        if index in ALLOWED[role]:
            assert answer.status_code < 300, (role, method, path, answer.text)
        else:
            problem(answer, 403, role)
    # Whoever may create a job gets its job token, and the job records who created it.
    created = api.put("/v1/jobs/mine", json={"spec": DROP}, headers=headers)
    if role == "viewer":
        problem(created, 403, "viewer")
        return
    assert created.status_code == 201, created.text
    job_token = bearer(created.json()["token"])
    assert api.post("/v1/jobs/mine/epochs/0", json={}, headers=job_token).status_code == 200
    first_event = api.get("/v1/jobs/mine/events", headers=ADMIN_HEADERS).json()["items"][0]
    assert first_event["actor"] == f"{role}-token"


def test_a_creator_acts_as_the_job_on_the_jobs_it_created_only(secure_api_on: TestClient) -> None:
    api = secure_api_on
    new_job(api, "theirs")
    trainer = bearer(new_token(api, "trainer", "creator"))
    new_job(api, "mine", headers=trainer)
    # A restarted pod PUTs again (200, no token) and carries on with the creator token.
    again = api.put("/v1/jobs/mine", json={"spec": DROP}, headers=trainer)
    assert again.status_code == 200 and "token" not in again.json()
    assert api.post("/v1/jobs/mine/epochs/0", json={}, headers=trainer).status_code == 200
    assert api.get("/v1/jobs/mine", headers=trainer).json()["last_epoch"] == 0
    assert api.get("/v1/jobs/mine/epochs", headers=trainer).status_code == 200
    assert api.get("/v1/jobs/mine/series", headers=trainer).status_code == 200
    problem(api.patch("/v1/jobs/mine", json={"scale": 2.0}, headers=trainer), 403, "creator")
    elsewhere = [("GET", "/v1/jobs/theirs"), ("POST", "/v1/jobs/theirs/epochs/0"),
                 ("GET", "/v1/jobs/theirs/epochs"), ("GET", "/v1/jobs/theirs/series"),
                 ("PUT", "/v1/jobs/theirs")]  # fmt: skip
    for method, path in elsewhere:
        body = {"spec": DROP} if method == "PUT" else {}
        problem(api.request(method, path, json=body, headers=trainer), 403, "created")
    assert api.get("/v1/jobs/theirs", headers=ADMIN_HEADERS).json()["last_epoch"] is None


def test_rotating_a_job_token_retires_the_old_one(secure_api_on: TestClient, db_url: str) -> None:
    api = secure_api_on
    old = bearer(new_job(api, "rotated"))
    assert api.post("/v1/jobs/rotated/epochs/0", json={}, headers=old).status_code == 200
    rotated = api.post("/v1/jobs/rotated/token", headers=ADMIN_HEADERS)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["job_id"] == "rotated"
    new = bearer(rotated.json()["token"])
    problem(api.post("/v1/jobs/rotated/epochs/1", json={}, headers=old), 401, "token")
    assert api.post("/v1/jobs/rotated/epochs/1", json={}, headers=new).status_code == 200
    problem(api.post("/v1/jobs/rotated/token", headers=new), 403, "job")
    problem(api.post("/v1/jobs/nosuch/token", headers=ADMIN_HEADERS), 404, "nosuch")
    engine = make_engine(db_url)
    with engine.connect() as connection:
        actions = connection.execute(select(events.c.action, events.c.actor)).all()
    engine.dispose()
    assert [tuple(row) for row in actions] == [("create", "alice"), ("rotate_token", "alice")]


def test_admin_secrets_that_are_empty_or_short_are_refused(sqlite_url: str) -> None:
    for value, words in (("admin:", "0 characters"), ("alice:tooSh0rt", "8 characters"),
                         (":long-enough-secret-1", "empty name"),
                         ("alice:long-enough-secret-1,,", "item 2")):  # fmt: skip
        with pytest.raises(ValueError, match=words) as refused:
            app_client(sqlite_url, admin_token=value)
        assert "tooSh0rt" not in str(refused.value)  # the refusal never shows a secret
