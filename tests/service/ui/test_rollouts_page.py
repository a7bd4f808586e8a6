"""The rollouts pages in a real headless Chromium against a real `lrhub serve` (auth on) whose
judge runs: the list, one rollout with both cohorts' curves overlaid in their cohort's colour,
the verdict's figures, and an operator's revert from the page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from tests.service.ui.conftest import (
    ADMIN_SECRET,
    Fleet,
    RecordedPage,
    make_tokens,
    screenshot,
    sign_in,
)
from tests.service.ui.test_dashboard import assert_stayed_on
from tests.support.fleet import SimulatedJob
from tests.support.receiver import poll_until
from tests.support.server import running_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CANARY_COLOR = "#d9480f"
CONTROL_COLOR = "#2f5bd3"
CONSTANT = {"type": "constant", "learning_rate": 0.1}


@pytest.fixture
def judged_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A real server with auth on and a fast rollout judge."""
    env = {"LRHUB_ADMIN_TOKEN": f"root:{ADMIN_SECRET}", "LRHUB_ROLLOUT_JUDGE_INTERVAL": "0.1"}
    with running_server(tmp_path, env=env) as server:
        headers = {"Authorization": f"Bearer {ADMIN_SECRET}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as admin:
            yield Fleet(server=server, admin=admin, tokens=make_tokens(admin))


def _train(admin: httpx.Client, jobs: list[SimulatedJob], epochs: int) -> None:
    for job in jobs:
        for _ in range(epochs):
            epoch = len(job.losses)
            path = f"/v1/jobs/{job.job_id}/epochs/{epoch}"
            answer = admin.post(path, json={"metrics": job.metrics_for(epoch)})
            assert answer.status_code == 200, answer.text
            loss = job.train_epoch(answer.json()["learning_rate"])
            ended = admin.put(f"{path}/metrics", json={"metrics": {"val_loss": loss}})
            assert ended.status_code == 200, ended.text


def test_a_rollout_overlays_its_cohorts_and_an_operator_reverts_it(
    judged_fleet: Fleet, recorded: RecordedPage
) -> None:
    admin = judged_fleet.admin
    rng = random.Random(31)
    jobs = [SimulatedJob(f"sim-{i}", random.Random(rng.random())) for i in range(6)]
    for job in jobs:
        created = admin.put(
            f"/v1/jobs/{job.job_id}", json={"spec": CONSTANT, "labels": {"fleet": "sim"}}
        )
        assert created.status_code == 201, created.text
    _train(admin, jobs, 4)
    body = {
        "selector": "fleet=sim",
        "change": {"scale": 0.02},
        "canary": 0.5,
        "analysis": {"metric": "val_loss", "mode": "min", "epochs": 3, "max_regression": 0.02},
        "revert": "manual",
    }
    answer = admin.post("/v1/rollouts", json=body)
    assert answer.status_code == 201, answer.text
    rollout = answer.json()
    rollout_id = rollout["rollout_id"]
    _train(admin, jobs, 4)
    poll_until(
        lambda: admin.get(f"/v1/rollouts/{rollout_id}").json()["state"],
        lambda state: state == "failed",
        30,
    )

    page = recorded.page
    url = judged_fleet.server.url
    sign_in(page, url, judged_fleet.tokens["viewer"])
    page.goto(f"{url}/ui#/rollouts")
    row = page.locator(f'#rollouts-table tr[data-rollout="{rollout_id}"]')
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("worse than max_regression")
    screenshot(page, "rollouts-list")
    listed = len(recorded.requests)  # the list pages' requests (the jobs list's sparklines)
    row.locator("a").click()
    chart = page.locator("#rollout-chart svg.chart")
    expect(chart).to_have_attribute("data-series", "6")
    verdict = admin.get(f"/v1/rollouts/{rollout_id}").json()["verdict"]
    expect(page.locator("#rollout-verdict")).to_have_text(
        f"failed: canary median {verdict['canary_median']:+.4f}, "
        f"control median {verdict['control_median']:+.4f}"
    )
    # A viewer sees no action.
    expect(page.locator("#rollout-actions")).to_have_count(0)
    # Each cohort's curves in its colour: as many strokes of each as the cohort has jobs.
    strokes = chart.locator("path").evaluate_all(
        "(paths) => paths.map((p) => p.getAttribute('stroke'))"
    )
    assert strokes.count(CANARY_COLOR) >= 3 and strokes.count(CONTROL_COLOR) >= 3, strokes
    assert strokes.count(CANARY_COLOR) == strokes.count(CONTROL_COLOR)
    figures = page.locator("#rollout-figures tbody tr")
    expect(figures).to_have_count(6)
    for job_id in rollout["canary"]:
        expect(page.locator(f'#rollout-figures tr[data-job="{job_id}"]')).to_have_attribute(
            "data-cohort", "canary"
        )
    screenshot(page, "rollout-failed")
    # The cohorts' curves came in one request.
    made = recorded.requests[listed:]
    series = [urlsplit(request).path for request in made if "series" in request]
    assert series == ["/v1/series"]
    assert_stayed_on(recorded, url)

    # An operator reverts it from the page: the canary is back to its scale.
    sign_out = page.locator("#sign-out")
    sign_out.click()
    sign_in(page, url, judged_fleet.tokens["operator"])
    page.goto(f"{url}/ui#/rollouts/{rollout_id}")
    page.click("#rollout-revert")
    expect(page.locator("h1 .badge")).to_have_text("reverted")
    expect(page.locator("#rollout-actions")).to_have_count(0)
    for job_id in rollout["canary"]:
        assert admin.get(f"/v1/jobs/{job_id}").json()["scale"] == 1.0
    screenshot(page, "rollout-reverted")

    # A cohort's job deleted since: the others are still drawn, read job by job.
    gone = rollout["canary"][0]
    admin.patch(f"/v1/jobs/{gone}", json={"status": "stopped"}).raise_for_status()
    admin.delete(f"/v1/jobs/{gone}").raise_for_status()
    page.reload()
    expect(page.locator("#rollout-chart svg.chart")).to_have_attribute("data-series", "5")
