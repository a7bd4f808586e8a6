"""The dashboard in a real headless Chromium against a real `lrhub serve` (auth on)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.service.ui.conftest import Fleet, RecordedPage, screenshot, sign_in
from tests.service.ui.seeding import seed_fleet

pytestmark = pytest.mark.browser


def test_operator_signs_in_and_sees_the_fleet(fleet: Fleet, recorded: RecordedPage) -> None:
    seed_fleet(fleet.admin)
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    rows = page.locator("#jobs-table tbody tr")
    jobs = fleet.admin.get("/v1/jobs").json()["items"]
    expect(rows).to_have_count(len(jobs))
    for job in jobs:
        row = page.locator(f'#jobs-table tr[data-job="{job["job_id"]}"]')
        expect(row.locator(".rate")).not_to_have_text("—")
    expect(page.locator(".spark path").first).to_be_attached()
    screenshot(page, "jobs")
    page.click('a.job-link:text("vision-0")')
    expect(page.locator("#chart svg")).to_have_attribute("data-epochs", "24")
    screenshot(page, "job")
    page.click('a[data-nav="schedules"]')
    page.click('a:text("plateau")')
    expect(page.locator("#preview-chart svg")).to_be_attached()
    screenshot(page, "schedules")
    assert recorded.csp_violations() == []
