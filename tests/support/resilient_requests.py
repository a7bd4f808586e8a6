"""Decision requests that ride out server restarts and database faults, as a client behind a
load balancer does: the identical request is retried on the next server (decisions are
idempotent), and every 5xx is recorded in a `FaultWindow` for the test to judge."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from tests.support.fault_window import FaultWindow
from tests.support.workload import RETRY_POLL_SECONDS, DecisionCounter, Step


def post_decision_riding_faults(
    client: httpx.Client,
    base_urls: Sequence[str],
    job_id: str,
    step: Step,
    *,
    first: int,
    window: FaultWindow,
    counter: DecisionCounter,
    retry_until: float,
) -> tuple[str, dict[str, Any]]:
    """Send `step` to `base_urls[first]`; on connection errors and 5xx retry it on the next
    server until `retry_until` (monotonic). Answers which base URL answered 200, and the answer.

    Every 5xx is recorded in `window` (retrying a 500 lets the run go on so that the test can
    report all of them); a 4xx fails at once: no fault excuses one.
    """
    body = {"metrics": step.metrics}
    attempt = first
    while True:
        base_url = base_urls[attempt % len(base_urls)]
        url = f"{base_url}/v1/jobs/{job_id}/epochs/{step.epoch}"
        mark = window.mark()
        try:
            response = client.post(url, json=body)
        except httpx.TransportError as error:
            failure = f"{url}: {error!r}"
        else:
            if response.status_code == 200:
                counter.add_answer()
                return base_url, dict(response.json())
            assert response.status_code >= 500, f"{url}: {response.status_code} {response.text}"
            window.record_error(
                "POST", url, json.dumps(body), response.status_code, response.text, mark
            )
            failure = f"{url}: {response.status_code} {response.text}"
        if time.monotonic() > retry_until:
            raise AssertionError(f"still failing at the retry deadline: {failure}")
        counter.add_retry()
        attempt += 1
        time.sleep(RETRY_POLL_SECONDS)  # back-off between retries, as any client does
