"""Webhook delivery latency to a healthy receiver at a steady event rate.

A real `lrhub serve` (SQLite, or PostgreSQL with `--database postgresql`) with one webhook
subscribed to `change` events, pointing at a loopback receiver that answers 204 at once (the
test suite's `tests.support.receiver`, which also verifies every delivery's signature with the
Standard Webhooks library). Events are raised at `--rate` per second by PATCHing jobs' labels,
paced on a fixed timetable (a late request is sent at once, never skipped). A delivery's latency
is the receiver's arrival time minus the event's `timestamp` in its body, both on this machine's
clock: the outbox write, the deliverer's claim, signing, and the POST.

    python -m bench.webhooks [--rate 100] [--seconds 20] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.machine import describe_machine
from bench.postgres import configured_url, reachable, scratch_postgres
from bench.servers import lrhub_server
from bench.stats import latency_summary
from tests.support.receiver import running_receiver

KEY = "bench-webhook-key-of-at-least-32-characters"
JOBS = 50
SENDERS = 4
TARGET_P99_MS = 1000.0


def _raise_events(url: str, rate: float, seconds: float) -> tuple[int, float]:
    """PATCH jobs' labels at `rate` per second for `seconds`, from SENDERS threads taking turns
    on one timetable (one alone falls behind on a busy machine); how many were sent, and the
    rate achieved."""
    total = int(rate * seconds)
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(JOBS):
            response = client.put(
                f"/v1/jobs/bench-{index}",
                json={"spec": {"type": "constant", "learning_rate": 0.1}},
            )
            response.raise_for_status()
    start = time.monotonic()

    def send(first: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for sent in range(first, total, SENDERS):
                wait = start + sent / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # pacing to the timetable, not a race guard
                labels = {"step": str(sent)}
                response = client.patch(f"/v1/jobs/bench-{sent % JOBS}", json={"labels": labels})
                response.raise_for_status()

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, range(SENDERS)))
    return total, total / (time.monotonic() - start)


def _claim_waits(url: str, webhook_id: str) -> list[float]:
    """Seconds from each event to the start of its first attempt (from the delivery log): the
    part of the latency spent before the deliverer claimed it."""
    waits, cursor = [], None
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params).json()
            for item in page["items"]:
                created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
                started = item["attempts"][0]["started_at"].replace("Z", "+00:00")
                waits.append((datetime.fromisoformat(started) - created).total_seconds())
            cursor = page["next_cursor"]
            if cursor is None:
                return waits


def measure(database_url: str | None, rate: float, seconds: float) -> dict[str, Any]:
    """Raise events at `rate` for `seconds`; the delivery latency summary."""
    env = {"LRHUB_WEBHOOK_KEY": KEY, "LRHUB_WEBHOOK_ALLOW_PRIVATE": "true"}
    with (
        tempfile.TemporaryDirectory(prefix="lrhub-bench-webhooks-") as workdir,
        running_receiver() as receiver,
        lrhub_server(Path(workdir), database_url=database_url, env=env) as server,
    ):
        body = {"url": receiver.url, "events": ["change"]}
        created = httpx.post(f"{server.url}/v1/webhooks", json=body, timeout=30).json()
        sent, achieved = _raise_events(server.url, rate, seconds)
        got = receiver.wait_for(lambda seen: len(seen) >= sent, deadline_seconds=120)
        waits = _claim_waits(server.url, created["webhook_id"])
    latencies = []
    for item in got:
        event = item.verify(created["secret"])
        at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        latencies.append(item.arrived - at)
    summary = latency_summary(latencies)
    return {
        "events": sent,
        "deliveries": len(got),
        "rate_target": rate,
        "rate_achieved": round(achieved, 1),
        **{key: round(value, 2) for key, value in summary.items()},
        "max_ms": round(max(latencies) * 1e3, 2),
        "claim_wait_p50_ms": round(latency_summary(waits)["p50_ms"], 2),
        "claim_wait_p99_ms": round(latency_summary(waits)["p99_ms"], 2),
        "target_p99_ms": TARGET_P99_MS,
    }


def main() -> None:
    """Run the measurement and print it (and `--json` to a file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to raise them")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.database == "postgresql":
        url = configured_url()
        problem = reachable(url)
        if problem is not None:
            raise SystemExit(problem)
        with scratch_postgres(url) as database_url:
            result = measure(database_url, args.rate, args.seconds)
    else:
        result = measure(None, args.rate, args.seconds)
    report = {"machine": describe_machine(), "database": args.database, **result}
    print(
        f"webhooks on {args.database}: {result['events']} events at {result['rate_achieved']}/s, "
        f"delivery latency p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms; claimed after p50 "
        f"{result['claim_wait_p50_ms']} ms, p99 {result['claim_wait_p99_ms']} ms "
        f"(target p99 < {TARGET_P99_MS:.0f} ms)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
