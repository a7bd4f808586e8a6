"""A real server with auth on, tokens of each role, and a headless Chromium driven by Playwright.

Chromium is Debian's package (`.ci/run` installs it); Playwright never downloads a browser here.
Every page a test opens records the requests it makes, its console errors and the
Content-Security-Policy violations it reports, so each test can check that nothing left the
loopback host and that the policy held.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, running_server

pytest.importorskip("playwright", reason="the browser tests need playwright (test group)")

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)

# Generous deadlines for a condition to appear (they end as soon as it does): CI shares two cores
# between the server, Chromium and the other test worker.
EXPECT_TIMEOUT_MS = 20_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)
CHROMIUM = Path(os.environ.get("LRHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
ADMIN_SECRET = "ui-admin-secret-0123456789"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
# Collects the violations the page's own policy reports (an init script is not subject to it).
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class Fleet:
    """The server under test, an admin client on it, and secrets of each role."""

    server: ServerProcess
    admin: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)  # role -> secret of a token named role

    def client(self, role: str) -> httpx.Client:
        """An httpx client with the token of `role`."""
        return httpx.Client(
            base_url=self.server.url,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )


@dataclass
class RecordedPage:
    """A page and what it did: every request URL, console errors, CSP violations."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_responses: list[tuple[int, str]] = field(default_factory=list)  # status >= 400

    def csp_violations(self) -> list[str]:
        violations: list[str] = self.page.evaluate("window.__cspViolations || []")
        return violations + [e for e in self.console_errors if "Content Security Policy" in e]


def make_tokens(admin: httpx.Client) -> dict[str, str]:
    """An `operator` and a `viewer` token (named after their roles), plus the admin's."""
    tokens = {"admin": ADMIN_SECRET}
    for role in ("operator", "viewer"):
        answer = admin.post("/v1/tokens", json={"name": role, "role": role})
        assert answer.status_code == 201, answer.text
        tokens[role] = answer.json()["token"]
    return tokens


# Module scope, not session: Playwright's sync API runs an event loop in this thread while it
# is open, and later test files on the same worker need asyncio.run().
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium; missing, it fails under CI and skips elsewhere."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (what .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield browser
    browser.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A real `lrhub serve` with auth on (admin `root`), and operator/viewer tokens."""
    env = {"LRHUB_ADMIN_TOKEN": f"root:{ADMIN_SECRET}"}
    with running_server(tmp_path, env=env) as server:
        headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as admin:
            yield Fleet(server=server, admin=admin, tokens=make_tokens(admin))


def open_page(browser: Browser, viewport_width: int = 1360) -> Iterator[RecordedPage]:
    """A fresh browser context and page that records what it does."""
    context = browser.new_context(viewport={"width": viewport_width, "height": 900})
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    recorded = RecordedPage(page=page)
    page.on("request", lambda request: recorded.requests.append(request.url))

    def on_response(response: Response) -> None:
        if response.status >= 400:
            recorded.failed_responses.append((response.status, response.url))

    page.on("response", on_response)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            recorded.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: recorded.console_errors.append(f"page error: {error}"))
    try:
        yield recorded
    finally:
        context.close()


@pytest.fixture
def recorded(browser: Browser) -> Iterator[RecordedPage]:
    """A recording page, closed after the test."""
    yield from open_page(browser)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save the page under build/screenshots/ (kept by the test run, not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def fill_in(page: Page, selector: str, value: str) -> None:
    """Fill (or choose in) a control of a page that redraws as its job changes, and see the value
    held before going on: the stream may bring a change while the test types, and a control
    replaced in the middle of a fill would keep its old value."""
    control = page.locator(selector)
    if control.evaluate("(element) => element.tagName") == "SELECT":
        control.select_option(value)
    else:
        control.fill(value)
    expect(control).to_have_value(value)


def sign_in(page: Page, url: str, token: str) -> None:
    """Open the dashboard and sign in with `token`."""
    page.goto(f"{url}/ui")
    page.fill("#token", token)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-out")
