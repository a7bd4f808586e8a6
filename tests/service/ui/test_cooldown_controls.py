"""The cooldown controls of the dashboard (job page and bulk change) in a real headless
Chromium against a real `lrhub serve` (auth on)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.service.ui.conftest import Fleet, RecordedPage, fill_in, screenshot, sign_in
from tests.service.ui.seeding import PLATEAU, create_job, put_schedule, report_epochs, seed_fleet
from tests.service.ui.test_dashboard import assert_stayed_on, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_cooldown_from_the_job_page_decays_the_rate_and_can_be_cancelled(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    create_job(fleet.admin, "cool-1", "plateau", {"team": "nlp"})
    before = report_epochs(fleet.admin, "cool-1", range(6))
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.goto(f"{fleet.server.url}/ui#/jobs/cool-1")
    expect(page.locator("#current-cooldown")).to_have_text("none")
    fill_in(page, "#cooldown-length", "4")
    fill_in(page, "#cooldown-unit", "epochs")
    fill_in(page, "#cooldown-shape", "linear")
    fill_in(page, "#cooldown-min", "0.01")
    page.click("#cooldown-apply")
    eventually(
        lambda: fleet.admin.get("/v1/jobs/cool-1").json()["cooldown"] is not None,
        "the cooldown set in the page shows in GET /v1/jobs/cool-1",
    )
    cooldown = fleet.admin.get("/v1/jobs/cool-1").json()["cooldown"]
    assert (cooldown["length"], cooldown["unit"], cooldown["shape"]) == (4, "epoch", "linear")
    assert cooldown["min_learning_rate"] == 0.01
    expect(page.locator("#current-cooldown")).to_contain_text("from the next decision")
    expect(page.locator("#pending")).to_contain_text("cooldown linear over 4 epochs to 0.01")
    events = fleet.admin.get("/v1/jobs/cool-1/events").json()["items"]
    assert events[-1]["actor"] == "operator"
    screenshot(page, "job-cooldown-pending")

    start = before[-1]  # the plateau's rate, flat at these epochs
    rates = report_epochs(fleet.admin, "cool-1", range(6, 9))
    assert rates == pytest.approx(
        [start, 0.01 + (start - 0.01) * 0.75, 0.01 + (start - 0.01) * 0.5]
    )
    expect(page.locator("#history-table tbody tr")).to_have_count(9)
    expect(page.locator('#history-table tr[data-epoch="8"] td').nth(1)).to_have_text("0.055")
    expect(page.locator("#chart .mark-cooldown")).to_have_count(1)
    expect(page.locator("#current-cooldown")).to_contain_text("decaying")
    expect(page.locator("#cooldown-cancel")).to_be_visible()
    screenshot(page, "job-cooldown-decaying")

    page.click("#cooldown-cancel")
    eventually(lambda: fleet.admin.get("/v1/jobs/cool-1").json()["cooldown"] is None, "the cancel")
    expect(page.locator("#current-cooldown")).to_have_text("none")
    assert report_epochs(fleet.admin, "cool-1", range(9, 10)) == [start]
    assert_stayed_on(recorded, fleet.server.url)


def test_a_bulk_cooldown_shows_its_dry_run_then_applies(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    seed_fleet(fleet.admin, epochs=10)
    vision = [j["job_id"] for j in fleet.admin.get("/v1/jobs?selector=team=vision").json()["items"]]
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.fill("#selector", "team=vision")
    page.click("#filters button[type=submit]")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(len(vision))
    page.fill("#bulk-cooldown", "200")
    page.select_option("#bulk-cooldown-shape", "cosine")
    page.click("#bulk-dry-run")
    expect(page.locator("#dry-run-table tbody tr")).to_have_count(len(vision))
    for job_id in vision:
        row = page.locator(f'#dry-run-table tr[data-job="{job_id}"]')
        expect(row).to_have_attribute("data-outcome", "changed")
        expect(row.locator(".diff")).to_contain_text("cooldown")
    screenshot(page, "bulk-cooldown-dry-run")
    assert all(j["cooldown"] is None for j in fleet.admin.get("/v1/jobs").json()["items"])
    page.click("#bulk-apply")
    expect(page.locator("#applied-table tbody tr")).to_have_count(len(vision))
    jobs = {j["job_id"]: j for j in fleet.admin.get("/v1/jobs").json()["items"]}
    for job_id in vision:
        assert (jobs[job_id]["cooldown"]["length"], jobs[job_id]["cooldown"]["unit"]) == (
            200,
            "step",
        )
        assert jobs[job_id]["cooldown"]["shape"] == "cosine"
    assert jobs["speech-3"]["cooldown"] is None
    assert_stayed_on(recorded, fleet.server.url)
