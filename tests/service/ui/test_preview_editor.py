"""The schedules page's preview editor in a real headless Chromium against a real `lrhub serve`:
while the spec typed has errors, the curve drawn last stays but is marked as not being it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.service.ui.conftest import Fleet, RecordedPage, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STALE = re.compile(r"\bchart-stale\b")
STEP_DECAY = '{"type": "step_decay", "initial_learning_rate": 0.1, "drop": 0.5, "every": 5}'


def test_a_spec_with_errors_greys_the_last_valid_curve_until_it_is_fixed(
    fleet: Fleet, recorded: RecordedPage
) -> None:
    page = recorded.page
    sign_in(page, fleet.server.url, fleet.tokens["operator"])
    page.goto(f"{fleet.server.url}/ui#/schedules")
    chart = page.locator("#preview-chart")
    note = page.locator("#preview-stale")
    expect(chart.locator("svg")).to_have_attribute("data-epochs", "30")
    expect(chart).not_to_have_class(STALE)
    expect(note).to_be_hidden()

    page.fill("#spec", "{not json")
    expect(page.locator("#spec-errors")).to_contain_text("not JSON")
    expect(chart).to_have_class(STALE)
    expect(note).to_be_visible()
    expect(note).to_contain_text("last valid curve, not the spec as typed")
    expect(chart.locator("svg")).to_have_attribute("data-epochs", "30")  # still drawn
    screenshot(page, "preview-stale")

    # A spec the server refuses is no curve either; more epochs do not redraw the old one.
    page.fill("#spec", '{"type": "reduce_on_plateau", "monitor": "val_loss", "factor": 2}')
    expect(page.locator('#spec-errors li[data-loc="spec.factor"]')).to_contain_text("less than 1")
    with page.expect_response(lambda response: response.url.endswith("/v1/preview")) as sent:
        page.fill("#epochs", "20")
    assert sent.value.status == 422
    expect(page.locator('#spec-errors li[data-loc="spec.factor"]')).to_be_visible()
    expect(chart).to_have_class(STALE)
    expect(chart.locator("svg")).to_have_attribute("data-epochs", "30")

    page.fill("#spec", STEP_DECAY)
    expect(chart.locator("svg")).to_have_attribute("data-epochs", "20")
    expect(chart).not_to_have_class(STALE)
    expect(note).to_be_hidden()
    expect(page.locator("#spec-errors li")).to_have_count(0)
    assert recorded.csp_violations() == []
    assert [e for e in recorded.console_errors if "Failed to load resource" not in e] == []
