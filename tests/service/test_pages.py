"""`GET /v1/me`, and the /ui and /docs pages as HTTP answers: files from the package, strict
policy headers, nothing referenced outside this server (SQLite and PostgreSQL for /v1/me)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from lrhub.service.ui.routes import CONTENT_SECURITY_POLICY, STATIC_DIR
from tests.service.conftest import ADMIN_HEADERS
from tests.service.test_tokens import bearer, new_job, new_token


def test_me_names_each_token_and_its_role(secure_api_on: TestClient) -> None:
    for role in ("admin", "operator", "viewer", "creator"):
        secret = new_token(secure_api_on, f"me-{role}", role)
        answer = secure_api_on.get("/v1/me", headers=bearer(secret))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"name": f"me-{role}", "role": role, "job_id": None, "auth": True}
    job_token = new_job(secure_api_on, "me-job")
    assert secure_api_on.get("/v1/me", headers=bearer(job_token)).json() == {
        "name": "job:me-job", "role": "job", "job_id": "me-job", "auth": True,
    }  # fmt: skip
    assert secure_api_on.get("/v1/me", headers=ADMIN_HEADERS).json()["name"] == "alice"


def test_me_without_a_valid_token_is_401_and_without_auth_anonymous_admin(
    secure_api: TestClient, api: TestClient
) -> None:
    for headers in ({}, bearer("not-a-token-of-this-server")):
        answer = secure_api.get("/v1/me", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
    assert api.get("/v1/me").json() == {
        "name": "anonymous", "role": "admin", "job_id": None, "auth": False,
    }  # fmt: skip


def test_me_takes_no_query_parameters(api: TestClient) -> None:
    answer = api.get("/v1/me", params={"role": "admin"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == "query.role"


class _References(HTMLParser):
    """The URLs a page's src= and href= attributes name, and whether it has inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self._in_script = tag == "script" and "src" not in values
        if any(name.startswith("on") for name in values) or "style" in values:
            self.inline_script = True

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_script = True


@pytest.mark.parametrize("path", ["/ui", "/docs"])
def test_pages_are_served_with_a_strict_policy_and_only_local_assets(
    api: TestClient, path: str
) -> None:
    answer = api.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    references = _References()
    references.feed(answer.text)
    assert not references.inline_script
    assert references.urls
    for url in references.urls:
        if url.startswith(("data:", "#")):
            continue  # inline data, or a route of the page itself
        assert url.startswith("/"), f"{path} references {url} outside this server"
        asset = api.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_every_module_the_dashboard_imports_is_served(api: TestClient) -> None:
    modules = sorted((STATIC_DIR / "js").glob("*.js"))
    assert modules
    for module in modules:
        source = module.read_text()
        for imported in re.findall(r'from "\./([a-z]+\.js)"', source):
            assert (STATIC_DIR / "js" / imported).is_file(), f"{module.name} imports {imported}"
        answer = api.get(f"/ui/static/js/{module.name}")
        assert answer.status_code == 200
        assert "javascript" in answer.headers["content-type"]
        # Job data reaches the DOM as text: the code has no HTML sinks at all.
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source)
        assert "eval(" not in source and "new Function" not in source


def test_the_page_preloads_every_module_app_js_reaches() -> None:
    # A module missing here still loads, a level of the import graph later: a slower page.
    page = (STATIC_DIR / "index.html").read_text()
    link = r'<link rel="modulepreload" href="/ui/static/js/([a-z]+\.js)">'
    preloaded = set(re.findall(link, page))
    reached: set[str] = set()
    waiting = ["app.js"]
    while waiting:
        source = (STATIC_DIR / "js" / waiting.pop()).read_text()
        for imported in re.findall(r'from "\./([a-z]+\.js)"', source):
            if imported not in reached:
                reached.add(imported)
                waiting.append(imported)
    assert preloaded == reached - {"app.js"}


def test_policy_forbids_inline_code_and_other_origins() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_ui_slash_redirects_and_the_api_answers_carry_no_page_policy(api: TestClient) -> None:
    answer = api.get("/ui/", follow_redirects=False)
    assert answer.status_code == 308
    assert answer.headers["location"] == "/ui"
    assert "content-security-policy" not in api.get("/v1/schedules").headers
    assert api.get("/ui/static/no-such-file.js").status_code == 404
    # The CDN-backed ReDoc page FastAPI would serve is off: everything works offline.
    assert api.get("/redoc").status_code == 404
