"""The dashboard in a real headless Chromium against a real `lrhub serve` (auth on)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from lrhub.client import Client
from lrhub.service.ui.routes import CONTENT_SECURITY_POLICY
from tests.service.ui.conftest import (
    ADMIN_SECRET,
    Fleet,
    RecordedPage,
    fill_in,
    open_page,
    screenshot,
    sign_in,
)
from tests.service.ui.seeding import (
    PLATEAU,
    create_job,
    put_schedule,
    report_epochs,
    seed_fleet,
    val_loss,
)
from tests.support.server import running_server, start_server

# Each test starts a server and a browser page: seconds, so `slow` too (`--fast` skips them).
pytestmark = [pytest.mark.browser, pytest.mark.slow]
MARKUP = '<img src=x onerror="window.__xss=1">'
DEADLINE_SECONDS = 20.0
# An epoch's end metrics as the history table shows them (`report_epochs` reports these two).
ENDED = [re.compile(r"^val_loss [0-9.e-]+$"), re.compile(r"^loss [0-9.e-]+$")]


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds or the deadline passes (then fail saying `what`)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE_SECONDS}s: {what}")
        time.sleep(0.05)  # polling interval for a condition, not a wait for a race


def assert_stayed_on(recorded: RecordedPage, base_url: str) -> None:
    """Every request the page made went to the server under test, and the policy held."""
    host = urlsplit(base_url).netloc
    elsewhere = [url for url in recorded.requests if urlsplit(url).netloc != host]
    assert elsewhere == []
    assert recorded.requests, "the page made no request at all"
    assert recorded.csp_violations() == []
    # The console names no URL for a failed load: those are checked by failed_responses.
    assert [e for e in recorded.console_errors if "Failed to load resource" not in e] == []
    assets = [(status, url) for status, url in recorded.failed_responses if "/v1/" not in url]
    assert assets == []


def test_operator_signs_in_sees_the_fleet_and_each_page(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    seed_fleet(fleet.admin)
    page = recorded.page
    page.goto(f"{fleet.server.url}/ui")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#token", "not-a-token-of-this-server")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("not valid")
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    expect(page.locator("#who")).to_contain_text("operator")

    jobs = fleet.admin.get("/v1/jobs").json()["items"]
    expect(page.locator("#jobs-table tbody tr")).to_have_count(len(jobs))
    for job in jobs:
        row = page.locator(f'#jobs-table tr[data-job="{job["job_id"]}"]')
        expect(row.locator(".rate")).to_have_text(re.compile(r"^[0-9.e-]+$"))
        expect(row.locator(".spark path")).to_be_attached()
    screenshot(page, "jobs")

    page.click('a.job-link:text-is("vision-0")')
    history = fleet.admin.get("/v1/jobs/vision-0/epochs").json()["items"]
    expect(page.locator("#chart svg")).to_have_attribute("data-epochs", str(len(history)))
    expect(page.locator("#history-table tbody tr")).to_have_count(len(history))
    rates = [item["learning_rate"] for item in history]
    drops = sum(1 for before, after in pairwise(rates) if after < before)
    assert drops > 0, "the seeded plateau job should have been reduced"
    expect(page.locator("#chart .mark-reduction")).to_have_count(drops)
    expect(page.locator("#metric")).to_have_value("val_loss")  # the metric the spec monitors
    screenshot(page, "job")

    page.click('a[data-nav="schedules"]')
    page.click('#schedules-table a:text-is("plateau")')
    expect(page.locator("#versions-table tbody tr")).to_have_count(1)
    expect(page.locator("#preview-chart svg")).to_have_attribute("data-epochs", "30")
    screenshot(page, "schedules")
    assert_stayed_on(recorded, fleet.server.url)


def test_job_curve_follows_decisions_live(fleet: Fleet, recorded: RecordedPage) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "live-1", "plateau", {"team": "vision"})
    report_epochs(fleet.admin, "live-1", range(3))
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.goto(f"{fleet.server.url}/ui#/jobs/live-1")
    chart = page.locator("#chart svg")
    expect(chart).to_have_attribute("data-epochs", "3")
    expect(page.locator("#live")).to_have_text("live")
    # Decisions arrive while the page is open: the curve and the header follow each one.
    for epoch in range(3, 15):
        report_epochs(fleet.admin, "live-1", range(epoch, epoch + 1))
        expect(chart).to_have_attribute("data-last-epoch", str(epoch))
    job = fleet.admin.get("/v1/jobs/live-1").json()
    expect(page.locator("#current-rate")).to_have_text(re.compile(r"\S"))
    expect(page.locator('#history-table tr[data-epoch="14"]')).to_be_attached()
    assert job["last_epoch"] == 14
    # Each epoch decided live shows the metrics observed at its end, which came with the next
    # decision; the last one's, reported after it, once the job ends.
    expect(page.locator('#history-table tr[data-epoch="13"] .metric')).to_have_text(ENDED)
    last = page.locator('#history-table tr[data-epoch="14"] .metric')
    expect(last).to_have_count(0)
    # Stopped mid-epoch, the job never reports epoch 14's end: the page looks for it once, not
    # at every later change.
    events = page.locator("#events-table tbody tr")
    patch = fleet.admin.patch
    patch("/v1/jobs/live-1", json={"status": "stopped"}).raise_for_status()
    expect(events).to_have_count(2)
    series_reads = sum("/series" in url for url in recorded.requests)
    patch("/v1/jobs/live-1", json={"labels": {"team": "speech"}}).raise_for_status()
    expect(events).to_have_count(3)
    patch("/v1/jobs/live-1", json={"status": "running"}).raise_for_status()
    expect(page.locator("#live")).to_have_text("live")
    assert sum("/series" in url for url in recorded.requests) == series_reads
    expect(last).to_have_count(0)
    end_report = {"metrics": {"val_loss": val_loss(14), "loss": val_loss(14) * 0.9}}
    fleet.admin.put("/v1/jobs/live-1/epochs/14/metrics", json=end_report).raise_for_status()
    patch("/v1/jobs/live-1", json={"status": "completed"}).raise_for_status()
    expect(page.locator("#live")).to_have_text("completed")
    expect(last).to_have_text(ENDED)
    screenshot(page, "job-live-ended")
    assert_stayed_on(recorded, fleet.server.url)


def test_a_rewound_job_draws_the_decisions_in_force_read_as_one_series(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "rewound", "plateau", {"team": "vision"})
    report_epochs(fleet.admin, "rewound", range(12))
    # A checkpoint rewind: epochs 6.. are decided again, 9..11 never again.
    for epoch in range(6, 9):
        metrics = {"val_loss": 12.5 + epoch}
        answer = fleet.admin.post(f"/v1/jobs/rewound/epochs/{epoch}", json={"metrics": metrics})
        assert answer.status_code == 200, answer.text
    in_force = fleet.admin.get("/v1/jobs/rewound/epochs", params={"superseded": "false"}).json()
    epochs = [item["epoch"] for item in in_force["items"]]
    assert epochs == list(range(9))
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.goto(f"{fleet.server.url}/ui#/jobs/rewound")
    chart = page.locator("#chart svg")
    expect(chart).to_have_attribute("data-epochs", "9")
    expect(chart).to_have_attribute("data-last-epoch", "8")
    rows = page.locator("#history-table tbody tr")
    expect(rows).to_have_count(9)
    assert [int(e) for e in rows.evaluate_all("rs => rs.map(r => r.dataset.epoch)")] == epochs[::-1]
    # Epoch 7's end metrics are those sent with the rewound epoch 8.
    expect(page.locator('#history-table tr[data-epoch="7"]')).to_contain_text("val_loss 20.5")
    # One series request for the chart (the jobs list signed in to asked for its sparkline).
    asked = [urlsplit(url) for url in recorded.requests]
    series = [url.query for url in asked if url.path == "/v1/jobs/rewound/series"]
    assert series == ["limit=1000", "limit=100000"]
    assert "/v1/jobs/rewound/epochs" not in [url.path for url in asked]
    assert_stayed_on(recorded, fleet.server.url)


def test_override_from_the_page_reaches_the_api_and_the_audit_log(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "steer-1", "plateau", {"team": "vision"})
    report_epochs(fleet.admin, "steer-1", range(5))
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.goto(f"{fleet.server.url}/ui#/jobs/steer-1")
    fill_in(page, "#override-value", "0.0025")
    page.click("#override-apply")
    eventually(
        lambda: fleet.admin.get("/v1/jobs/steer-1").json()["override"] == 0.0025,
        "the override set in the page shows in GET /v1/jobs/steer-1",
    )
    events = fleet.admin.get("/v1/jobs/steer-1/events").json()["items"]
    assert events[-1]["actor"] == "operator"
    assert events[-1]["after"]["override"] == 0.0025
    expect(page.locator("#current-override")).to_have_text("0.0025")
    latest = page.locator("#events-table tbody tr").first
    expect(latest.locator(".actor")).to_have_text("operator")
    # One job's change is a change record too, named as such.
    expect(latest).to_contain_text(f"update (change {events[-1]['change_id'][:8]})")
    # Until the next decision the change is pending, at the epoch it takes effect at.
    expect(page.locator("#pending")).to_contain_text("override 0.0025")
    expect(page.locator("#pending-epoch")).to_have_text("5")
    screenshot(page, "job-pending-override")
    # The next decision uses it, and the chart marks the override at that epoch.
    assert report_epochs(fleet.admin, "steer-1", range(5, 6)) == [0.0025]
    expect(page.locator("#chart .mark-override")).to_have_count(1)
    expect(page.locator("#pending")).to_be_empty()

    fill_in(page, "#scale-value", "0.5")
    page.click("#scale-apply")
    eventually(lambda: fleet.admin.get("/v1/jobs/steer-1").json()["scale"] == 0.5, "scale 0.5")
    page.click("#pause-toggle")
    eventually(lambda: fleet.admin.get("/v1/jobs/steer-1").json()["paused"], "paused")
    expect(page.locator("#pause-toggle")).to_have_text("Resume (unpause)")
    put_schedule(
        fleet.admin,
        "cosine",
        {"type": "cosine_decay", "initial_learning_rate": 0.2, "decay_steps": 9},
    )
    fill_in(page, "#switch-schedule", "cosine")
    fill_in(page, "#switch-clock", "restart")
    page.click("#switch-apply")
    eventually(
        lambda: fleet.admin.get("/v1/jobs/steer-1").json()["schedule"]["name"] == "cosine",
        "the switch to cosine",
    )
    assert fleet.admin.get("/v1/jobs/steer-1").json()["clock_origin"] == 6
    page.click("#stop")
    eventually(lambda: fleet.admin.get("/v1/jobs/steer-1").json()["status"] == "stopped", "stop")
    actions = [e["action"] for e in fleet.admin.get("/v1/jobs/steer-1/events").json()["items"]]
    assert actions == ["create", "update", "update", "update", "update", "stop"]
    actors = {e["actor"] for e in fleet.admin.get("/v1/jobs/steer-1/events").json()["items"][1:]}
    assert actors == {"operator"}
    expect(page.locator("#events-table tbody tr")).to_have_count(6)
    # Stopped: not live, and no control the server would refuse is offered; only resuming.
    expect(page.locator("#live")).to_have_text("stopped")
    for refused in ("#override-form", "#scale-form", "#switch-form", "#pause-toggle", "#stop"):
        expect(page.locator(refused)).to_have_count(0)
    expect(page.locator("#resume")).to_be_enabled()
    screenshot(page, "job-controls")
    # An operator may not delete (admins only): the page offers no delete button.
    expect(page.locator("#delete")).to_have_count(0)
    assert_stayed_on(recorded, fleet.server.url)


def test_admin_deletes_a_stopped_job(fleet: Fleet, browser: Browser) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "gone-1", "plateau", {})
    fleet.admin.patch("/v1/jobs/gone-1", json={"status": "stopped"})
    for recorded in open_page(browser):
        page = recorded.page
        sign_in(page, fleet.server.url, fleet.tokens["admin"])
        page.goto(f"{fleet.server.url}/ui#/jobs/gone-1")
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#delete")
        expect(page.locator("#jobs-table")).to_be_visible()
        assert fleet.admin.get("/v1/jobs/gone-1").status_code == 404
        assert_stayed_on(recorded, fleet.server.url)


def test_bulk_change_shows_every_before_and_after_then_applies(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    seed_fleet(fleet.admin, epochs=14)
    vision = [j["job_id"] for j in fleet.admin.get("/v1/jobs?selector=team=vision").json()["items"]]
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.fill("#selector", "team=vision")
    page.select_option("#status", "running")
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(len(vision))
    expect(page.locator("#bulk-selection")).to_have_text("team=vision,status=running")
    page.fill("#bulk-scale", "0.5")
    page.click("#bulk-dry-run")
    dry_rows = page.locator("#dry-run-table tbody tr")
    expect(dry_rows).to_have_count(len(vision))
    for job_id in vision:
        row = page.locator(f'#dry-run-table tr[data-job="{job_id}"]')
        expect(row).to_have_attribute("data-outcome", "changed")
        expect(row.locator(".diff")).to_have_text("scale: 1 → 0.5")
    screenshot(page, "bulk-dry-run")
    # A dry run changes nothing.
    assert {j["scale"] for j in fleet.admin.get("/v1/jobs").json()["items"]} == {1.0}
    page.click("#bulk-apply")
    expect(page.locator("#applied-table tbody tr")).to_have_count(len(vision))
    jobs = {j["job_id"]: j for j in fleet.admin.get("/v1/jobs").json()["items"]}
    assert {job_id: jobs[job_id]["scale"] for job_id in vision} == dict.fromkeys(vision, 0.5)
    assert jobs["speech-3"]["scale"] == 1.0
    change_ids = {
        fleet.admin.get(f"/v1/jobs/{job_id}/events").json()["items"][-1]["change_id"]
        for job_id in vision
    }
    assert len(change_ids) == 1 and None not in change_ids
    assert_stayed_on(recorded, fleet.server.url)


def test_bulk_change_on_ticked_jobs_changes_those_jobs_only(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    seed_fleet(fleet.admin, epochs=4)
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    expect(page.locator("#jobs-table tbody tr")).to_have_count(4)
    expect(page.locator("#bulk-dry-run")).to_be_disabled()  # nothing ticked, nothing filtered
    page.check('#jobs-table tr[data-job="vision-1"] input.pick')
    page.check('#jobs-table tr[data-job="speech-3"] input.pick')
    expect(page.locator("#bulk-selection")).to_have_text("job_id in (speech-3,vision-1)")
    page.fill("#bulk-override", "0.004")
    page.click("#bulk-dry-run")
    expect(page.locator("#dry-run-table tbody tr")).to_have_count(2)
    # Ticking more after the dry run does not widen what Apply changes.
    page.check('#jobs-table tr[data-job="vision-0"] input.pick')
    page.click("#bulk-apply")
    expect(page.locator("#applied-table tbody tr")).to_have_count(2)
    overrides = {j["job_id"]: j["override"] for j in fleet.admin.get("/v1/jobs").json()["items"]}
    assert overrides == {"speech-3": 0.004, "vision-0": None, "vision-1": 0.004, "vision-2": None}
    assert_stayed_on(recorded, fleet.server.url)


def test_markup_a_job_reports_stays_text(fleet: Fleet, recorded: RecordedPage) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "xss-1", "plateau", {"note": MARKUP})
    report_epochs(fleet.admin, "xss-1", range(2))
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    expect(page.locator('#jobs-table tr[data-job="xss-1"] .label')).to_have_text(f"note={MARKUP}")
    page.goto(f"{fleet.server.url}/ui#/jobs/xss-1")
    expect(page.locator("#job-head .label")).to_have_text(f"note={MARKUP}")
    assert page.locator("main img").count() == 0
    assert page.evaluate("window.__xss === undefined")
    assert_stayed_on(recorded, fleet.server.url)


def test_viewer_sees_no_controls(fleet: Fleet, recorded: RecordedPage) -> None:
    seed_fleet(fleet.admin, epochs=6)
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    expect(page.locator("#who")).to_contain_text("viewer")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(4)
    expect(page.locator("#bulk")).to_have_count(0)
    # A viewer ticks jobs to compare them, and changes none.
    expect(page.locator("#jobs-table input.pick")).to_have_count(4)
    expect(page.locator("#compare-picked")).to_be_visible()
    page.goto(f"{fleet.server.url}/ui#/jobs/vision-0")
    expect(page.locator("#chart svg")).to_be_attached()
    expect(page.locator("#controls")).to_have_count(0)
    expect(page.locator("main button")).to_have_count(0)
    page.goto(f"{fleet.server.url}/ui#/schedules")
    expect(page.locator("#preview-chart svg")).to_be_attached()
    expect(page.locator("#save-form")).to_have_count(0)
    screenshot(page, "viewer-schedules")
    assert_stayed_on(recorded, fleet.server.url)


def test_preview_editor_draws_as_typed_and_shows_errors_at_the_field(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.goto(f"{fleet.server.url}/ui#/schedules")
    chart = page.locator("#preview-chart svg")
    expect(chart).to_have_attribute("data-epochs", "30")
    page.fill("#epochs", "12")
    expect(chart).to_have_attribute("data-epochs", "12")
    # The what-if sequence drives the plateau reductions the server computes.
    values = ", ".join(str(val_loss(epoch)) for epoch in range(12))
    page.fill("#whatif-values", values)
    body = {
        "spec": PLATEAU | {"factor": 0.5, "patience": 2},
        "epochs": 12,
        "metrics": [{"val_loss": val_loss(epoch)} for epoch in range(12)],
    }
    page.fill("#spec", httpx.Response(200, json=body["spec"]).text)
    expected = fleet.admin.post("/v1/preview", json=body).json()
    rates = expected["learning_rates"]
    drops = sum(1 for before, after in pairwise(rates) if after < before)
    assert drops > 0
    expect(page.locator("#preview-chart .mark-reduction")).to_have_count(drops)

    page.fill("#spec", '{"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 2}')
    expect(page.locator('#spec-errors li[data-loc="spec.factor"]')).to_contain_text("less than 1")
    expect(page.locator("#spec")).to_have_attribute("aria-invalid", "true")
    page.fill("#epochs", "0")
    expect(page.locator('#epochs-errors li[data-loc="epochs"]')).to_be_visible()
    page.fill("#spec", "{not json")
    expect(page.locator("#spec-errors")).to_contain_text("not JSON")
    screenshot(page, "preview-errors")

    page.fill("#epochs", "20")
    page.fill(
        "#spec", '{"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 5}'
    )
    expect(chart).to_have_attribute("data-epochs", "20")
    page.fill("#save-name", "stepped")
    page.click("#save-form button[type=submit]")
    expect(page.locator("#save-message")).to_have_text("saved stepped@1")
    assert fleet.admin.get("/v1/schedules/stepped").json()["spec"]["drop"] == 0.5
    assert_stayed_on(recorded, fleet.server.url)


def test_pages_carry_the_policy_and_docs_work_offline_with_authorize(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    page = recorded.page
    for path in ("/ui", "/docs", "/ui/static/js/app.js"):
        answer = httpx.get(f"{fleet.server.url}{path}")
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    page.goto(f"{fleet.server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("lrhub")
    page.click("button.authorize")
    page.fill(".auth-container input", fleet.tokens["viewer"])
    page.click('.auth-btn-wrapper button:text-is("Authorize")')
    page.click('button.btn-done, button:text-is("Close")')
    operation = page.locator("#operations-tokens-getMe")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    expect(operation.locator(".responses-wrapper .live-responses-table")).to_contain_text(
        '"viewer"'
    )
    operation.scroll_into_view_if_needed()
    screenshot(page, "docs", full_page=False)
    assert_stayed_on(recorded, fleet.server.url)


def test_loopback_server_without_tokens_needs_no_sign_in(
    tmp_path: Path, recorded: RecordedPage
) -> None:
    with running_server(tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            seed_fleet(client, epochs=4)
        page = recorded.page
        page.goto(f"{server.url}/ui")
        expect(page.locator("#jobs-table tbody tr")).to_have_count(4)
        expect(page.locator("#sign-in")).to_have_count(0)
        expect(page.locator("#who")).to_contain_text("anonymous")
        expect(page.locator("#bulk")).to_be_visible()
        assert_stayed_on(recorded, server.url)


def test_the_list_pages_through_the_api_without_loading_the_fleet(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    ids = sorted(f"fleet-{index:03d}" for index in range(120))
    for job_id in ids:
        create_job(
            fleet.admin, job_id, "plateau", {"team": "vision" if job_id[-1] in "05" else "nlp"}
        )
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-job", ids[0])
    page.click("#next-page")
    expect(rows.first).to_have_attribute("data-job", ids[50])
    page.click("#next-page")
    expect(rows).to_have_count(20)
    expect(rows.last).to_have_attribute("data-job", ids[-1])
    expect(page.locator("#next-page")).to_have_count(0)
    # Drawing the sparklines after the list must not move the pager under a reader's pointer.
    listed_at = page.locator("#prev-page").bounding_box()
    expect(page.locator("#jobs-table td.spark-cell svg.spark")).to_have_count(20)
    assert page.locator("#prev-page").bounding_box() == listed_at
    page.click("#prev-page")
    expect(rows.first).to_have_attribute("data-job", ids[50])
    # Filtering asks the server: the selector goes to /v1/jobs, one page at a time.
    page.fill("#selector", "team=vision")
    page.click("#filters button[type=submit]")
    vision = [job_id for job_id in ids if job_id[-1] in "05"]
    expect(rows).to_have_count(len(vision))
    listed = [url for url in recorded.requests if urlsplit(url).path == "/v1/jobs"]
    assert listed and all("limit=50" in url for url in listed)
    assert any("selector=team%3Dvision" in url for url in listed)
    assert_stayed_on(recorded, fleet.server.url)


def test_a_bad_selector_is_shown_at_the_filter(fleet: Fleet, recorded: RecordedPage) -> None:
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.fill("#selector", "team in (a,b")
    page.click("#filters button[type=submit]")
    expect(page.locator("#filter-error")).to_contain_text("query.selector")
    assert_stayed_on(recorded, fleet.server.url)


def last_decision_event_id(url: str, job_id: str, epoch: int) -> int:
    """The stream id of `job_id`'s decision of `epoch` (read from the start of the stream)."""
    with Client(url, token=ADMIN_SECRET, max_retries=0) as client:
        for event in client.stream(job=job_id, after=0):
            if event.event == "decision" and event.data["epoch"] == epoch:
                return event.id
    raise AssertionError(f"no decision of epoch {epoch} in the stream")


def test_the_live_page_resumes_with_last_event_id_after_a_server_restart(
    fleet: Fleet, recorded: RecordedPage, tmp_path: Path
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "resume-1", "plateau", {})
    report_epochs(fleet.admin, "resume-1", range(2))
    page = recorded.page
    resumed_from: list[str] = []
    page.on(
        "request",
        lambda request: (
            resumed_from.append(request.headers.get("last-event-id", ""))
            if "/v1/stream" in request.url
            else None
        ),
    )
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.goto(f"{fleet.server.url}/ui#/jobs/resume-1")
    chart = page.locator("#chart svg")
    expect(page.locator("#live")).to_have_text("live")
    report_epochs(fleet.admin, "resume-1", range(2, 4))
    expect(chart).to_have_attribute("data-last-epoch", "3")
    seen = last_decision_event_id(fleet.server.url, "resume-1", 3)

    fleet.server.stop()
    expect(page.locator("#live")).to_have_text("reconnecting")
    env = {"LRHUB_ADMIN_TOKEN": f"root:{ADMIN_SECRET}"}
    restarted = start_server(tmp_path, env=env, port=fleet.server.port)
    try:
        # The page reconnects by itself, asking for what came after the last event it saw.
        expect(page.locator("#live")).to_have_text("live", timeout=20_000)
        assert resumed_from[-1] == str(seen)
        report_epochs(fleet.admin, "resume-1", range(4, 6))
        expect(chart).to_have_attribute("data-last-epoch", "5")
        expect(page.locator('#history-table tr[data-epoch="5"]')).to_be_attached()
    finally:
        restarted.stop()
    assert_stayed_on(recorded, fleet.server.url)


def test_stale_stopped_and_paused_jobs_are_marked_in_the_list(
    tmp_path: Path, recorded: RecordedPage
) -> None:
    # A job silent for a second is stale on this server (the default is 15 minutes).
    with running_server(tmp_path, env={"LRHUB_STALE_AFTER": "PT1S"}) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            put_schedule(client, "plateau", PLATEAU)
            for job_id in ("quiet", "halted", "held"):
                create_job(client, job_id, "plateau", {})
                report_epochs(client, job_id, range(2))
            client.patch("/v1/jobs/halted", json={"status": "stopped"})
            client.patch("/v1/jobs/held", json={"paused": True})
            # Once every running job is stale the marks stay put (nothing reports any more).
            eventually(
                lambda: all(
                    job["stale"]
                    for job in client.get("/v1/jobs").json()["items"]
                    if job["status"] == "running"
                ),
                "the silent running jobs turn stale in the API",
            )
            expected = {job["job_id"]: job for job in client.get("/v1/jobs").json()["items"]}
        page = recorded.page
        page.goto(f"{server.url}/ui")
        for job_id, job in expected.items():
            row = page.locator(f'#jobs-table tr[data-job="{job_id}"]')
            expect(row.locator(f".badge-{job['status']}")).to_have_text(job["status"])
            expect(row.locator(".badge-stale")).to_have_count(1 if job["stale"] else 0)
            expect(row.locator(".badge-paused")).to_have_count(1 if job["paused"] else 0)
        assert expected["halted"]["status"] == "stopped"
        assert expected["quiet"]["stale"] and expected["held"]["stale"]
        assert not expected["halted"]["stale"]  # a stopped job is never stale
        assert_stayed_on(recorded, server.url)


def test_the_pending_mark_is_the_servers_labels_are_not_pending(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    for job_id in ("relabelled", "overridden"):
        create_job(fleet.admin, job_id, "plateau", {"team": "vision"})
        report_epochs(fleet.admin, job_id, range(4))
    relabelled = fleet.admin.patch("/v1/jobs/relabelled", json={"labels": {"team": "speech"}})
    assert relabelled.status_code == 200 and relabelled.json()["pending_epoch"] is None
    overridden = fleet.admin.patch("/v1/jobs/overridden", json={"override": 0.003})
    assert overridden.status_code == 200 and overridden.json()["pending_epoch"] == 4
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.goto(f"{fleet.server.url}/ui#/jobs")
    marked = page.locator('#jobs-table tr[data-job="overridden"] .pending-mark')
    expect(marked).to_have_text("pending from epoch 4")
    # A labels-only change was made after this job's last decision too: it is not pending.
    expect(page.locator("#jobs-table tr[data-job=relabelled]")).to_be_visible()
    expect(page.locator('#jobs-table tr[data-job="relabelled"] .pending-mark')).to_have_count(0)
    screenshot(page, "jobs-pending-mark")
    page.goto(f"{fleet.server.url}/ui#/jobs/overridden")
    expect(page.locator("#pending")).to_contain_text("Pending from epoch 4: override 0.003")
    page.goto(f"{fleet.server.url}/ui#/jobs/relabelled")
    expect(page.locator("#current-rate")).not_to_have_text("")
    expect(page.locator("#pending")).to_be_empty()
    # The next decision clears the mark, in the list and on the job page (live).
    page.goto(f"{fleet.server.url}/ui#/jobs/overridden")
    expect(page.locator("#pending-epoch")).to_have_text("4")
    assert report_epochs(fleet.admin, "overridden", range(4, 5)) == [0.003]
    expect(page.locator("#pending")).to_be_empty()
    page.goto(f"{fleet.server.url}/ui#/jobs")
    expect(page.locator('#jobs-table tr[data-job="overridden"] .badge-override')).to_have_count(1)
    expect(page.locator("#jobs-table .pending-mark")).to_have_count(0)
    assert_stayed_on(recorded, fleet.server.url)


def test_drift_is_marked_on_the_job_chart_at_its_epoch_and_live(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "drifting", "plateau", {"team": "vision"})

    def ask(epoch: int, applied: float | None) -> float:
        body: dict[str, object] = {"metrics": {} if epoch == 0 else {"val_loss": val_loss(epoch)}}
        if applied is not None:
            body["applied"] = {"learning_rate": applied}
        answer = fleet.admin.post(f"/v1/jobs/drifting/epochs/{epoch}", json=body)
        assert answer.status_code == 200, answer.text
        rate: float = answer.json()["learning_rate"]
        return rate

    rate = ask(0, None)
    for epoch in range(1, 8):  # epoch 3 trained with 0.5, whatever was answered
        rate = ask(epoch, 0.5 if epoch == 4 else rate)
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])
    page.goto(f"{fleet.server.url}/ui#/jobs/drifting")
    chart = page.locator("#chart svg")
    expect(chart).to_have_attribute("data-epochs", "8")
    marks = page.locator("#chart svg g.mark-drift")
    expect(marks).to_have_count(1)
    expect(marks.locator("title")).to_have_text(re.compile(r"^epoch 3: drift: applied 0\.5"))
    expect(page.locator('#history-table tr[data-epoch="3"] .drift')).to_have_text("applied 0.5")
    expect(page.locator("#history-table .drift")).to_have_count(1)
    # A drift reported while the page is open arrives as a `drift` event and is marked.
    ask(8, rate * 3)
    expect(chart).to_have_attribute("data-last-epoch", "8")
    expect(marks).to_have_count(2)
    expect(marks.nth(1).locator("title")).to_have_text(re.compile(r"^epoch 7: drift"))
    screenshot(page, "job-drift")
    assert_stayed_on(recorded, fleet.server.url)
