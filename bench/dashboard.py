"""The dashboard with a fleet, in headless Chromium: a 10,000-epoch job's chart, a 10,000-job
list and Compare drawing 50 jobs of 1,000 epochs, timed by the browser's own performance marks.

    python -m bench.dashboard [--runs 5] [--only compare] [--results-dir bench/results]

Each figure is the time from navigation start (`performance.timeOrigin`) to a mark the page sets
(`lrhub:chart-drawn`, `lrhub:jobs-listed`, `lrhub:compare-drawn`), and for the charts also the
drawing alone (`...-draw-start` to `...-drawn`). Baselines in the same run, same browser, same
server kind: a 100-epoch job's chart, the list of a 10-job fleet, Compare of 3 jobs. Needs
`/usr/bin/chromium` (`apt-get install chromium`) and Playwright (the test group). Nothing here is
asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import update

from bench.machine import REPOSITORY, describe_machine
from bench.seeding import copy_template_job, decide_template_job, seeded_job_id
from lrhub.service.storage.database import make_engine, write_transaction
from lrhub.service.storage.tables import jobs
from tests.service.ui.seeding import PLATEAU, val_loss
from tests.support.server import running_server

BIG_EPOCHS = 10_000
SMALL_EPOCHS = 100
FLEET = 10_000
SMALL_FLEET = 10
COMPARED = 50
COMPARED_EPOCHS = 1000
COMPARED_BASELINE = 3
CHROMIUM = "/usr/bin/chromium"
COMMAND = "python -m bench.dashboard"


def decide_epochs(client: httpx.Client, job_id: str, epochs: int) -> None:
    """Create `job_id` on the plateau spec and decide `epochs` epochs over HTTP."""
    client.put(f"/v1/jobs/{job_id}", json={"spec": PLATEAU}).raise_for_status()
    for epoch in range(epochs):
        metrics = {} if epoch == 0 else {"val_loss": val_loss(epoch - 1) + (epoch % 7) * 1e-3}
        answer = client.post(f"/v1/jobs/{job_id}/epochs/{epoch}", json={"metrics": metrics})
        answer.raise_for_status()


def label_every_tenth(database_url: str, count: int) -> None:
    """team=vision on every tenth seeded job, team=speech on the others (what the filter picks)."""
    engine = make_engine(database_url)
    try:
        with write_transaction(engine) as connection:
            ids = [seeded_job_id(i) for i in range(count)]
            vision = ids[::10]
            connection.execute(
                update(jobs).where(jobs.c.job_id.in_(vision)).values(labels={"team": "vision"})
            )
            chosen = set(vision)
            others = [i for i in ids if i not in chosen]
            for start in range(0, len(others), 500):
                connection.execute(
                    update(jobs)
                    .where(jobs.c.job_id.in_(others[start : start + 500]))
                    .values(labels={"team": "speech"})
                )
    finally:
        engine.dispose()


def time_to_mark(
    browser: Browser,
    url: str,
    mark: str,
    ready: str,
    runs: int,
) -> tuple[list[float], list[int]]:
    """Per fresh page load of `url`: ms from navigation to the last `mark` once `ready` (a
    selector) is there, and how many /v1/jobs list requests it made."""
    times: list[float] = []
    list_requests: list[int] = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))  # noqa: B023
        page.goto(url)
        page.wait_for_selector(ready, state="attached", timeout=120_000)
        entries: list[float] = page.evaluate(
            "(name) => performance.getEntriesByName(name).map((e) => e.startTime)", mark
        )
        times.append(max(entries))
        list_requests.append(sum(1 for r in requests if "/v1/jobs?" in r or r.endswith("/v1/jobs")))
        context.close()
    return times, list_requests


def draw_times(
    browser: Browser, url: str, ready: str, runs: int, marks: str = "lrhub:chart"
) -> list[float]:
    """Per fresh page load: ms between the `marks`-draw-start and -drawn marks (the drawing)."""
    times = []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(ready, state="attached", timeout=120_000)
        times.append(
            page.evaluate(
                """(marks) => {
                  const start = performance.getEntriesByName(`${marks}-draw-start`).at(-1);
                  const end = performance.getEntriesByName(`${marks}-drawn`).at(-1);
                  return end.startTime - start.startTime;
                }""",
                marks,
            )
        )
        context.close()
    return times


def series_read_times(client: httpx.Client, job_id: str, runs: int) -> list[float]:
    """ms to read the job's series over HTTP as the page does, without a browser: the server's
    part of the chart's time."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        params: dict[str, str | int] = {"limit": 100_000}
        while True:
            page = client.get(f"/v1/jobs/{job_id}/series", params=params).json()
            if not page["next_cursor"]:
                break
            params["cursor"] = page["next_cursor"]
        times.append((time.perf_counter() - started) * 1000)
    return times


def history_read_times(client: httpx.Client, job_id: str, runs: int) -> list[float]:
    """ms to read the job's whole history items over HTTP in pages of 1,000 (what the page read
    before the series endpoint): the baseline of `series_read_times`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 1000, "superseded": "false"}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"/v1/jobs/{job_id}/epochs", params=params).json()
            cursor = page["next_cursor"]
            if not cursor:
                break
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def compare_section(browser: Browser, work: Path, runs: int) -> dict[str, Any]:
    """Compare of 50 jobs of 1,000 epochs (one decided over HTTP, copied with SQL) against 3."""
    with running_server(work) as server, httpx.Client(base_url=server.url) as client:
        decide_epochs(client, "cmp-0", COMPARED_EPOCHS)
        copy_template_job(
            f"sqlite:///{work / 'lrhub.db'}", range(1, COMPARED), "cmp-0", lambda i: f"cmp-{i}"
        )

        def page(count: int) -> str:
            return f"{server.url}/ui#/compare?jobs=" + ",".join(f"cmp-{i}" for i in range(count))

        def ready(count: int) -> str:
            return f'#compare-chart svg[data-series="{count}"]'

        mark = "lrhub:compare-drawn"
        many, _ = time_to_mark(browser, page(COMPARED), mark, ready(COMPARED), runs)
        few, _ = time_to_mark(
            browser, page(COMPARED_BASELINE), mark, ready(COMPARED_BASELINE), runs
        )
        drawing = draw_times(browser, page(COMPARED), ready(COMPARED), runs, "lrhub:compare")
        return {
            f"{COMPARED} jobs of {COMPARED_EPOCHS} epochs, page load to drawn": summary(many),
            f"{COMPARED_BASELINE} jobs of {COMPARED_EPOCHS} epochs (baseline)": summary(few),
            "ratio": statistics.median(many) / statistics.median(few),
            f"drawing alone, {COMPARED} jobs": summary(drawing),
        }


def run(runs: int, only: str | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"command": COMMAND, "runs": runs, "machine": describe_machine()}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
        work = Path(scratch)
        if only in (None, "compare"):
            (work / "c").mkdir()
            results["compare"] = compare_section(browser, work / "c", runs)
        if only == "compare":
            browser.close()
            return results
        (work / "a").mkdir()
        with running_server(work / "a") as server, httpx.Client(base_url=server.url) as client:
            decide_epochs(client, "big", BIG_EPOCHS)
            decide_epochs(client, "small", SMALL_EPOCHS)
            for index in range(SMALL_FLEET - 2):
                decide_epochs(client, f"other-{index}", 3)
            page: Callable[[str], str] = lambda job: f"{server.url}/ui#/jobs/{job}"  # noqa: E731
            big_ready = f'#chart svg[data-epochs="{BIG_EPOCHS}"]'
            small_ready = f'#chart svg[data-epochs="{SMALL_EPOCHS}"]'
            big, _ = time_to_mark(browser, page("big"), "lrhub:chart-drawn", big_ready, runs)
            small, _ = time_to_mark(browser, page("small"), "lrhub:chart-drawn", small_ready, runs)
            results["chart"] = {
                f"{BIG_EPOCHS} epochs, all drawn": summary(big),
                f"{SMALL_EPOCHS} epochs (baseline)": summary(small),
                "ratio": statistics.median(big) / statistics.median(small),
                f"drawing alone, {BIG_EPOCHS} epochs": summary(
                    draw_times(browser, page("big"), big_ready, runs)
                ),
                f"reading the {BIG_EPOCHS}-epoch series over HTTP, no browser": summary(
                    series_read_times(client, "big", runs)
                ),
                f"reading the {BIG_EPOCHS}-epoch history items instead (pages of 1,000)": summary(
                    history_read_times(client, "big", runs)
                ),
            }
            small_list, _ = time_to_mark(
                browser,
                f"{server.url}/ui#/jobs",
                "lrhub:jobs-listed",
                "#jobs-table tbody tr[data-job]",
                runs,
            )
        (work / "b").mkdir()
        with running_server(work / "b") as server, httpx.Client(base_url=server.url) as client:
            decide_template_job(client)
            database_url = f"sqlite:///{work / 'b' / 'lrhub.db'}"
            copy_template_job(database_url, range(1, FLEET))
            label_every_tenth(database_url, FLEET)
            full, full_requests = time_to_mark(
                browser,
                f"{server.url}/ui#/jobs",
                "lrhub:jobs-listed",
                "#jobs-table tbody tr[data-job]",
                runs,
            )
            filtered, filtered_requests = time_to_mark(
                browser,
                f"{server.url}/ui#/jobs?selector=team%3Dvision&status=running",
                "lrhub:jobs-listed",
                "#jobs-table tbody tr[data-job]",
                runs,
            )
            results["jobs list"] = {
                f"{FLEET} jobs, first page": summary(full),
                f"{FLEET} jobs, filtered team=vision,status=running": summary(filtered),
                f"{SMALL_FLEET} jobs (baseline)": summary(small_list),
                "ratio (first page)": statistics.median(full) / statistics.median(small_list),
                "ratio (filtered)": statistics.median(filtered) / statistics.median(small_list),
                "list requests per load": sorted(set(full_requests + filtered_requests)),
            }
        browser.close()
    return results


def report(results: dict[str, Any]) -> str:
    lines = [f"command: `{results['command']}`, {results['runs']} page loads each", ""]
    for section in ("chart", "jobs list", "compare"):
        if section not in results:
            continue
        lines += [f"| {section} | median ms | min | max |", "|---|---|---|---|"]
        for name, value in results[section].items():
            if isinstance(value, dict):
                lines.append(
                    f"| {name} | {value['median_ms']:.0f} | {value['min_ms']:.0f} "
                    f"| {value['max_ms']:.0f} |"
                )
            else:
                lines.append(
                    f"| {name} | {value if isinstance(value, list) else f'{value:.2f}x'} | | |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="page loads per figure")
    parser.add_argument(
        "--only", choices=("compare",), help="measure Compare alone (the others take minutes)"
    )
    parser.add_argument("--results-dir", type=Path, default=REPOSITORY / "bench" / "results")
    arguments = parser.parse_args()
    results = run(arguments.runs, arguments.only)
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    path = arguments.results_dir / f"dashboard-{results['machine']['date_utc'][:19]}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
