"""Poll a server's readiness until it answers a given status."""

from __future__ import annotations

import time

import httpx

READINESS_POLL_SECONDS = 0.05


def wait_for_readiness(base_url: str, status: int, deadline_seconds: float) -> httpx.Response:
    """GET `/readyz` until it answers `status`; answers that response. Fails with the last
    answer (or connection error) when `deadline_seconds` pass first."""
    deadline = time.monotonic() + deadline_seconds
    last = "nothing"
    while True:
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=5.0)
        except httpx.TransportError as error:
            last = repr(error)
        else:
            if response.status_code == status:
                return response
            last = f"{response.status_code} {response.text}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{base_url}/readyz never answered {status}; last: {last}")
        time.sleep(READINESS_POLL_SECONDS)  # polling interval, not a race guard
