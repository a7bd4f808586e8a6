"""Prometheus metrics: the fleet's job gauges, and the request and decision metrics of one
server process.

The fleet gauges (`lrhub_jobs{status}`, `lrhub_jobs_stale`) are counted in the database at each
scrape, so every worker of every replica reports the same whole-fleet numbers. The request and
decision metrics live in each process's own registry (prometheus-client's multi-process mode is
not used): with `--workers N` a scrape reaches one worker and shows that worker's counts; sum
them over replicas (and run one worker per container) for the whole picture.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JOB_RATE_SERIES = 10_000
UNMATCHED_ROUTE = "<unmatched>"


class ServiceMetrics:
    """The metrics `/metrics` exposes, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "lrhub_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "lrhub_decisions",
            "Epoch decisions answered, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.reductions = Counter(
            "lrhub_reductions", "Plateau reductions made by decisions.", registry=self.registry
        )
        self.job_rate = Gauge(
            "lrhub_job_learning_rate",
            "The learning rate last answered for a job (most recent jobs of this process).",
            ["job_id"],
            registry=self.registry,
        )
        self.jobs = Gauge(
            "lrhub_jobs",
            "Jobs by status, the whole fleet (counted in the database at each scrape).",
            ["status"],
            registry=self.registry,
        )
        self.stale_jobs = Gauge(
            "lrhub_jobs_stale",
            "Running jobs that stopped reporting (see LRHUB_STALE_AFTER), the whole fleet.",
            registry=self.registry,
        )
        self._jobs_seen: OrderedDict[str, None] = OrderedDict()

    def set_fleet(self, by_status: Mapping[str, int], stale: int) -> None:
        """Set the fleet gauges to counts just read from the database."""
        for status, count in by_status.items():
            self.jobs.labels(status=status).set(count)
        self.stale_jobs.set(stale)

    def record_decision(self, job_id: str, outcome: str, rate: float, reductions: int) -> None:
        """Count one decision and remember the job's rate, keeping the job series bounded."""
        self.decisions.labels(outcome=outcome).inc()
        if reductions:
            self.reductions.inc(reductions)
        self.job_rate.labels(job_id=job_id).set(rate)
        self._jobs_seen[job_id] = None
        self._jobs_seen.move_to_end(job_id)
        if len(self._jobs_seen) > MAX_JOB_RATE_SERIES:
            oldest, _ = self._jobs_seen.popitem(last=False)
            self.job_rate.remove(oldest)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """ASGI middleware observing each request's latency under its route template."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.request_duration.labels(
                method=scope["method"], route=template, status=str(status)
            ).observe(time.perf_counter() - started)
