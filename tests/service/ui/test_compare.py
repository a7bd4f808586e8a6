"""Compare in a real headless Chromium against a real `lrhub serve` (auth on): jobs ticked or
selected in the jobs list, overlaid on one chart with a legend, a metric and smoothing."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.service.ui.conftest import Fleet, RecordedPage, screenshot, sign_in
from tests.service.ui.seeding import COSINE, PLATEAU, create_job, put_schedule, report_epochs
from tests.service.ui.test_dashboard import assert_stayed_on, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The chart's right edge in SVG units (DEFAULT_WIDTH - MARGIN.right in charts.js).
PLOT_RIGHT = 900 - 16


def rate_tick_labels(page: Page, chart: str) -> list[str]:
    return page.locator(f"{chart} .rate-ticks text").all_text_contents()


def assert_readable_log_axis(labels: list[str], low: float, high: float) -> None:
    """One format for all labels (plain or exponent, never both), and a tick at every power of
    ten between the lowest and highest rate drawn."""
    exponent = [("e" in label) for label in labels]
    assert all(exponent) or not any(exponent), labels
    values = [float(label) for label in labels]
    assert values == sorted(values)
    for power in range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1):
        assert any(math.isclose(v, 10.0**power) for v in values), (power, labels)
    assert min(values) <= low and max(values) >= high


def test_compare_three_ticked_jobs_with_a_metric_columns_and_smoothing(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    put_schedule(fleet.admin, "cosine", COSINE)
    rates = {}
    for job_id, schedule, epochs in [
        ("a-1", "plateau", 30),
        ("b-2", "cosine", 40),
        ("c-3", "plateau", 20),
    ]:
        create_job(fleet.admin, job_id, schedule, {"team": "vision"})
        rates[job_id] = report_epochs(fleet.admin, job_id, range(epochs))
    create_job(fleet.admin, "d-4", "cosine", {"team": "speech"})
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["viewer"])

    # The jobs list with the latest val_loss of each job as a column, sorted by it.
    # The list signing in opened reads each job's sparkline on its own: let it finish first.
    drawn = "performance.getEntriesByName('lrhub:sparklines-drawn').length > 0"
    eventually(lambda: bool(page.evaluate(drawn)), "the signed-in list's sparklines")
    signed_in = len(recorded.requests)
    page.goto(f"{fleet.server.url}/ui#/jobs?metrics=val_loss")
    head = page.locator('#jobs-table th[data-metric="val_loss"]')
    expect(head).to_be_visible()
    cell = page.locator('#jobs-table tr[data-job="a-1"] td.metric-value')
    reported = [m for m in fleet.admin.get("/v1/jobs/a-1/series").json()["metrics"] if m]
    latest = reported[-1]["val_loss"]
    expect(cell).to_have_attribute("data-value", str(latest))
    expect(page.locator('#jobs-table tr[data-job="c-3"] td.metric-value')).not_to_have_text("…")
    # The page's jobs' whole series came in one request.
    made = recorded.requests[signed_in:]
    assert [urlsplit(url).path for url in made if "series" in url] == ["/v1/series"]
    head.click()
    expect(head).to_have_attribute("aria-sort", "ascending")
    shown = page.locator("#jobs-table td.metric-value").evaluate_all(
        "(cells) => cells.map((c) => c.dataset.value)"
    )
    numbers = [float(v) for v in shown if v]
    assert numbers == sorted(numbers) and len(numbers) == 3
    assert shown[-1] == ""  # d-4 reported nothing: last either way
    head.click()
    expect(head).to_have_attribute("aria-sort", "descending")

    # Tick three jobs (a viewer may compare) and open Compare.
    expect(page.locator("#compare-picked")).to_be_disabled()
    for job_id in ("a-1", "b-2", "c-3"):
        page.locator(f'#jobs-table tr[data-job="{job_id}"] input.pick').check()
    page.click("#compare-picked")
    expect(page).to_have_url(re.compile(r"#/compare\?jobs=a-1,b-2,c-3$"))
    chart = page.locator("#compare-chart svg")
    expect(chart).to_have_attribute("data-series", "3")
    expect(chart).to_have_attribute("data-last-epoch", "39")
    expect(page.locator("#compare-legend .legend-item")).to_have_count(3)
    expect(page.locator("#compare-metric")).to_have_value("val_loss")
    expect(page.locator("#compare-chart .line-rate")).to_have_count(3)
    expect(page.locator("#compare-chart .line-metric")).to_have_count(3)

    every_rate = [r for job_rates in rates.values() for r in job_rates]
    assert_readable_log_axis(
        rate_tick_labels(page, "#compare-chart"), min(every_rate), max(every_rate)
    )
    # Every job's last epoch keeps its width: each rate line ends at the longest job's end or
    # at its own last epoch's end, with a horizontal stretch, not a bare drop.
    for path in page.locator("#compare-chart .line-rate").all():
        assert re.search(r"H[\d.]+$", path.get_attribute("d") or "")
    longest = page.locator('#compare-chart .line-rate[data-label="b-2"]').get_attribute("d") or ""
    assert longest.endswith(f"H{PLOT_RIGHT:.1f}")

    metric_path = page.locator("#compare-chart .line-metric").first
    raw = metric_path.get_attribute("d")
    page.locator("#compare-smoothing").fill("0.8")
    expect(page.locator("#compare-smoothing-value")).to_have_text("0.8")
    expect(page.locator("#compare-chart .line-metric").first).not_to_have_attribute("d", raw or "")
    screenshot(page, "compare-3-jobs")

    # A job that does not exist is said so; the others are still drawn.
    page.goto(f"{fleet.server.url}/ui#/compare?jobs=a-1,nobody")
    expect(page.locator('#compare-problems [data-job="nobody"]')).to_contain_text("nobody")
    expect(page.locator("#compare-chart svg")).to_have_attribute("data-series", "1")
    assert_stayed_on(recorded, fleet.server.url)


def test_compare_fifty_jobs_opened_from_a_selector(fleet: Fleet, recorded: RecordedPage) -> None:
    put_schedule(fleet.admin, "plateau", PLATEAU)
    put_schedule(fleet.admin, "cosine", COSINE)
    for index in range(50):
        job_id = f"sweep-{index:02d}"
        create_job(fleet.admin, job_id, ("plateau", "cosine")[index % 2], {"sweep": "s1"})
        report_epochs(fleet.admin, job_id, range(8 + index % 13))
    create_job(fleet.admin, "other", "cosine", {"sweep": "s2"})
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.goto(f"{fleet.server.url}/ui#/jobs?selector=sweep%3Ds1")
    expect(page.locator("#jobs-table tbody tr[data-job]")).to_have_count(50)
    before = len(recorded.requests)
    page.click("#compare-selection")
    expect(page).to_have_url(re.compile(r"#/compare\?selector=sweep%3Ds1$"))
    expect(page.locator("#compare-chart svg")).to_have_attribute("data-series", "50")
    # The fifty curves came in one request, not one per job.
    batched = [url for url in recorded.requests[before:] if "/v1/series?" in url]
    assert len(batched) == 1, batched
    assert all(f"sweep-{index:02d}" in batched[0] for index in range(50))
    expect(page.locator("#compare-legend .legend-item")).to_have_count(50)
    expect(page.locator('#compare-legend [data-job="other"]')).to_have_count(0)
    # Fifty distinct colours.
    colours = page.locator("#compare-chart .line-rate").evaluate_all(
        "(paths) => paths.map((p) => p.getAttribute('stroke'))"
    )
    assert len(set(colours)) == 50
    screenshot(page, "compare-50-jobs")

    page.goto(f"{fleet.server.url}/ui#/compare?selector=sweep%3Dnone")
    expect(page.locator("#compare-empty")).to_contain_text("No job matches")
    assert_stayed_on(recorded, fleet.server.url)
