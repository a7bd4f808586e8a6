"""Bearer tokens: admin tokens from settings, job tokens scoped to their job and stored hashed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from lrhub.service.storage.tables import jobs
from tests.service.conftest import ADMIN_HEADERS
from tests.service.helpers import DROP, problem

JSON = {"Content-Type": "application/json"}


def job_with_token(client: TestClient, job_id: str) -> str:
    response = client.put(f"/v1/jobs/{job_id}", json={"spec": DROP}, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_v1_needs_a_known_token_but_operations_do_not(secure_api: TestClient) -> None:
    missing = secure_api.get("/v1/schedules")
    problem(missing, 401, "Bearer")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    problem(secure_api.get("/v1/schedules", headers=bearer("wrong")), 401, "token")
    problem(secure_api.post("/v1/jobs/x/epochs/0", json={}), 401, "Bearer")
    # Authentication comes first: nothing of an unknown caller's body is read.
    not_json = secure_api.post("/v1/jobs/x/epochs/0", content=b"{", headers=JSON)
    problem(not_json, 401, "Bearer")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert secure_api.get(path).status_code == 200
    assert secure_api.get("/v1/schedules", headers=ADMIN_HEADERS).status_code == 200


def test_a_job_token_reaches_its_own_job_only(secure_api_on: TestClient) -> None:
    secure_api = secure_api_on
    mine = bearer(job_with_token(secure_api, "mine"))
    job_with_token(secure_api, "theirs")

    assert secure_api.get("/v1/jobs/mine", headers=mine).status_code == 200
    assert secure_api.post("/v1/jobs/mine/epochs/0", json={}, headers=mine).status_code == 200
    assert secure_api.get("/v1/jobs/mine/epochs", headers=mine).status_code == 200
    again = secure_api.put("/v1/jobs/mine", json={"spec": DROP}, headers=mine)
    assert again.status_code == 200
    assert "token" not in again.json()
    assert secure_api.get("/v1/schedules", headers=mine).status_code == 200
    preview = secure_api.post("/v1/preview", json={"spec": DROP, "epochs": 2}, headers=mine)
    assert preview.status_code == 200

    problem(secure_api.get("/v1/jobs/theirs", headers=mine), 403, "another job")
    problem(secure_api.post("/v1/jobs/theirs/epochs/0", json={}, headers=mine), 403, "another")
    problem(secure_api.put("/v1/jobs/new", json={"spec": DROP}, headers=mine), 403, "another")
    problem(secure_api.patch("/v1/jobs/mine", json={"scale": 2}, headers=mine), 403, "admin")
    problem(secure_api.get("/v1/jobs", headers=mine), 403, "admin")
    problem(secure_api.get("/v1/jobs/mine/events", headers=mine), 403, "admin")
    put = secure_api.put("/v1/schedules/s", json={"spec": DROP}, headers=mine)
    problem(put, 403, "admin")


def test_the_database_holds_only_the_tokens_sha256(secure_api: TestClient, sqlite_url: str) -> None:
    token = job_with_token(secure_api, "hashed")
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        stored = connection.execute(select(jobs.c.token_hash)).scalar_one()
    engine.dispose()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    database_file = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in database_file.parent.glob(database_file.name + "*"):
        assert token.encode() not in path.read_bytes()


def test_audit_events_name_the_admin(secure_api: TestClient) -> None:
    job_with_token(secure_api, "audited")
    secure_api.patch("/v1/jobs/audited", json={"scale": 0.5}, headers=ADMIN_HEADERS)
    events = secure_api.get("/v1/jobs/audited/events", headers=ADMIN_HEADERS).json()["items"]
    assert [event["actor"] for event in events] == ["alice", "alice"]
