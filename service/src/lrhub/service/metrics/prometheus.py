"""Prometheus metrics: request and decision counters summed over the server's worker processes,
and fleet gauges read from the database.

The counters and the latency histogram are kept per process; with `lrhub serve --workers N`
(N > 1) they live in prometheus-client's multi-process files (`PROMETHEUS_MULTIPROC_DIR`, a
fresh directory `serve` makes), so a scrape, whichever worker answers it, reports the sum over
all workers. Replicas are scraped one by one and summed by Prometheus as usual.

The gauges (`lrhub_jobs{status}`, `lrhub_jobs_stale`, `lrhub_job_learning_rate{job_id}`,
`lrhub_rollouts{state}`) are counted in the database at each scrape: the same whole-fleet
numbers from every worker of every replica, and a deleted or finished job's rate series
disappears with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrhub.service.metrics.multiprocess import MULTIPROCESS_DIRECTORY_VARIABLE

UNMATCHED_ROUTE = "<unmatched>"


# The most recently seen running jobs whose rate `/metrics` reports (a bound on its series).
MAX_JOB_RATE_SERIES = 10_000


@dataclass(frozen=True)
class FleetCounts:
    """Jobs by status across the whole database, how many running ones are stale, and the
    rate of the most recently seen running jobs."""

    by_status: dict[str, int]
    stale: int
    rates: dict[str, float]


class _FleetCollector(Collector):
    """Yields the gauges of one scrape's `FleetCounts` and rollouts by state (plain families,
    never multi-process values: they are read fresh, not accumulated)."""

    def __init__(self, fleet: FleetCounts, rollouts: Mapping[str, int]) -> None:
        self.fleet = fleet
        self.rollouts = rollouts

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "lrhub_jobs",
            "Jobs by status, the whole fleet (counted in the database at each scrape).",
            labels=["status"],
        )
        for status, count in self.fleet.by_status.items():
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "lrhub_jobs_stale",
            "Running jobs that stopped reporting (see LRHUB_STALE_AFTER), the whole fleet.",
            value=self.fleet.stale,
        )
        rates = GaugeMetricFamily(
            "lrhub_job_learning_rate",
            "The learning rate last answered for each running job (the most recently seen "
            f"{MAX_JOB_RATE_SERIES:,}).",
            labels=["job_id"],
        )
        for job_id, rate in self.fleet.rates.items():
            rates.add_metric([job_id], rate)
        yield rates
        rollouts = GaugeMetricFamily(
            "lrhub_rollouts",
            "Rollouts by state, the whole database (passed and failed ones wait for an operator "
            "when promotion or revert is manual).",
            labels=["state"],
        )
        for state, count in self.rollouts.items():
            rollouts.add_metric([state], count)
        yield rollouts


class ServiceMetrics:
    """The request and decision metrics of this server, and their exposition."""

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
        self.applied = Counter(
            "lrhub_applied_reports",
            "Applied rates reported by jobs and recorded, by whether they drifted from the rate "
            "in force.",
            ["drift"],
            registry=self.registry,
        )

        # Each labelled child once: `labels()` validates and looks its values up on every call,
        # which costs more than the observation itself on the decision path.
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

    def _child(self, metric: MetricWrapperBase, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Observe one request's latency under its method, route template and status."""
        self._child(self.request_duration, method, route, str(status)).observe(seconds)

    def record_decision(self, outcome: str, reductions: int) -> None:
        """Count one decision and the plateau reductions it made."""
        self._child(self.decisions, outcome).inc()
        if reductions:
            self.reductions.inc(reductions)

    def record_applied(self, drift: bool | None) -> None:
        """Count one recorded applied report, drifted or not (nothing for None: none was
        recorded)."""
        if drift is not None:
            self._child(self.applied, str(drift).lower()).inc()

    def render(self, fleet: FleetCounts, rollouts: Mapping[str, int]) -> bytes:
        """The Prometheus text exposition: every worker's counters, then the fleet gauges."""
        fleet_registry = CollectorRegistry()
        fleet_registry.register(_FleetCollector(fleet, rollouts))
        return generate_latest(self._counters()) + generate_latest(fleet_registry)

    def _counters(self) -> CollectorRegistry:
        directory = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)
        if not directory:
            return self.registry
        # Multi-process mode: this process's values are in its files too; read them all.
        summed = CollectorRegistry()
        MultiProcessCollector(summed, path=directory)  # type: ignore[no-untyped-call]
        return summed


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
            self.metrics.observe_request(
                scope["method"], template, status, time.perf_counter() - started
            )
