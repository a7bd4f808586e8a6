"""Bearer auth of a real server: admin tokens, per-job tokens, and the refusal to listen on a
public interface without any token."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.problems import assert_problem
from tests.support.server import (
    STARTUP_DEADLINE_SECONDS,
    ServerProcess,
    free_port,
    running_server,
    serve_command,
    server_env,
)

ADMIN = {"Authorization": "Bearer s3cret-admin-token"}
SPEC = {"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 2}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with one named admin token, `alice:s3cret-admin-token`."""
    with running_server(
        tmp_path_factory.mktemp("auth"), env={"LRHUB_ADMIN_TOKEN": "alice:s3cret-admin-token"}
    ) as server:
        yield server


@pytest.fixture(scope="module")
def job_tokens(secured: ServerProcess) -> dict[str, str]:
    """Two jobs created by the admin, each with the token its creation answered once."""
    tokens: dict[str, str] = {}
    with httpx.Client(base_url=secured.url, headers=ADMIN, timeout=30.0) as admin:
        assert admin.put("/v1/schedules/halving", json={"spec": SPEC}).is_success
        for job_id in ("job-a", "job-b"):
            created = admin.put(f"/v1/jobs/{job_id}", json={"schedule": "halving"})
            assert created.status_code == 201, created.text
            tokens[job_id] = created.json()["token"]
            again = admin.put(f"/v1/jobs/{job_id}", json={"schedule": "halving"})
            assert again.status_code == 200 and again.json().get("token") is None, again.text
    assert tokens["job-a"].startswith("lrj_") and tokens["job-a"] != tokens["job-b"]
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="no-token"), pytest.param(bearer("wrong"), id="unknown-token"),
     pytest.param({"Authorization": "Basic YWxpY2U6czNjcmV0"}, id="basic-scheme")],
)  # fmt: skip
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/schedules"), ("PUT", "/v1/schedules/halving"), ("GET", "/v1/jobs"),
     ("POST", "/v1/jobs/job-a/epochs/0"), ("POST", "/v1/preview")],
)  # fmt: skip
def test_v1_needs_a_known_bearer_token(
    secured: ServerProcess, job_tokens: dict[str, str], method: str, path: str,
    headers: dict[str, str],
) -> None:  # fmt: skip
    answer = httpx.request(method, secured.url + path, headers=headers, json={}, timeout=30.0)
    assert_problem(
        answer.status_code,
        answer.headers.get("content-type"),
        answer.content,
        expected_status=401,
        detail_words=("token", "bearer", "authorization"),
    )
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "body",
    [pytest.param(b"{not json", id="not-json"), pytest.param(b'{"scale": "x"}', id="invalid"),
     pytest.param(b"x" * 300_000, id="oversized")],
)  # fmt: skip
def test_no_token_is_refused_before_the_body_is_read(secured: ServerProcess, body: bytes) -> None:
    """Without a token nothing about the body is answered: not even that it is malformed."""
    answer = httpx.put(
        secured.url + "/v1/jobs/job-z",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30.0,
    )
    assert answer.status_code == 401, answer.text


def test_operations_endpoints_need_no_token(secured: ServerProcess) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(secured.url + path, timeout=30.0).status_code == 200, path


def test_job_token_works_for_its_own_job(
    secured: ServerProcess, job_tokens: dict[str, str]
) -> None:
    with httpx.Client(
        base_url=secured.url, headers=bearer(job_tokens["job-a"]), timeout=30.0
    ) as job_a:
        decided = job_a.post("/v1/jobs/job-a/epochs/0", json={"metrics": {}})
        assert decided.status_code == 200, decided.text
        assert decided.json()["learning_rate"] == SPEC["initial_learning_rate"]
        assert job_a.get("/v1/jobs/job-a").json()["last_epoch"] == 0
        assert [row["epoch"] for row in job_a.get("/v1/jobs/job-a/epochs").json()["items"]] == [0]
        assert job_a.put("/v1/jobs/job-a", json={"schedule": "halving"}).status_code == 200
        assert job_a.get("/v1/schedules/halving").status_code == 200
        assert job_a.get("/v1/schedules").status_code == 200
        assert job_a.post("/v1/preview", json={"schedule": "halving", "epochs": 3}).is_success


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        # The other job.
        ("POST", "/v1/jobs/job-b/epochs/0", {"metrics": {}}),
        ("GET", "/v1/jobs/job-b", None),
        ("GET", "/v1/jobs/job-b/epochs", None),
        ("PUT", "/v1/jobs/job-b", {"schedule": "halving"}),
        # Admin-only operations, even on its own job.
        ("PATCH", "/v1/jobs/job-a", {"override": 1.0}),
        ("GET", "/v1/jobs/job-a/events", None),
        ("GET", "/v1/jobs", None),
        ("PUT", "/v1/jobs/job-c", {"schedule": "halving"}),
        ("PUT", "/v1/schedules/halving", {"spec": {"type": "constant", "learning_rate": 9.0}}),
        ("DELETE", "/v1/schedules/halving", None),
    ],
)
def test_job_token_is_forbidden_elsewhere(
    secured: ServerProcess, job_tokens: dict[str, str], method: str, path: str,
    body: dict[str, object] | None,
) -> None:  # fmt: skip
    headers = bearer(job_tokens["job-a"])
    answer = httpx.request(method, secured.url + path, headers=headers, json=body, timeout=30.0)
    assert_problem(
        answer.status_code,
        answer.headers.get("content-type"),
        answer.content,
        expected_status=403,
        detail_words=("job", "admin", "token", "forbidden", "not allowed"),
    )
    with httpx.Client(base_url=secured.url, headers=ADMIN, timeout=30.0) as admin:
        # Nothing the refused request asked for happened.
        assert admin.get("/v1/jobs/job-c").status_code == 404
        assert admin.get("/v1/schedules/halving").json()["version"] == 1
        assert admin.get("/v1/jobs/job-a").json()["override"] is None


def test_audit_names_the_admin_and_the_job(
    secured: ServerProcess, job_tokens: dict[str, str]
) -> None:
    with httpx.Client(base_url=secured.url, headers=ADMIN, timeout=30.0) as admin:
        patched = admin.patch("/v1/jobs/job-b", json={"labels": {"team": "vision"}})
        assert patched.status_code == 200, patched.text
        events = admin.get("/v1/jobs/job-b/events").json()["items"]
    assert [(event["actor"], event["action"]) for event in events] == [
        ("alice", "create"),
        ("alice", "update"),
    ]


def test_public_interface_without_tokens_is_refused(tmp_path: Path) -> None:
    port = free_port()
    finished = subprocess.run(
        serve_command(host="0.0.0.0", port=port),
        env=server_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=STARTUP_DEADLINE_SECONDS,
    )
    assert finished.returncode != 0
    message = finished.stdout + finished.stderr
    assert "LRHUB_ADMIN_TOKEN" in message and "--insecure" in message, message
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0)


def test_public_interface_with_insecure_serves(tmp_path: Path) -> None:
    with running_server(tmp_path, host="0.0.0.0", extra_args=("--insecure",)) as server:
        assert httpx.get(server.url + "/healthz", timeout=30.0).json() == {"status": "ok"}
        # Auth is off: /v1 answers without a token.
        assert httpx.get(server.url + "/v1/schedules", timeout=30.0).status_code == 200
