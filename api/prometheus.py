"""`GET /metrics`: incident figures and the service's own request metrics, for Prometheus.

Each app gets its own registry (nothing global, so tests can build many
apps). Incident figures are read from the database at scrape time:

- `pml_incidents_total{service,error_class}`: incidents imported;
- `pml_incident_resolve_seconds{service,error_class}`: a summary (`_sum`,
  `_count`) of started -> resolved; MTTR = `_sum / _count`;
- `pml_error_budget_consumed_seconds_total{service,error_class}`.

An incident with two error classes counts under both, so sum these by
service only with that in mind (docs/metrics.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer import usecases
from indexer.library import Library


class IncidentCollector(Collector):
    """Reads the incident totals at each scrape."""

    def __init__(self, library: Library, cache: dict[str, Any]) -> None:
        self.library = library
        self.cache = cache  # {"version", "rows"}: totals change only when incidents do

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "error_class"]
        count = CounterMetricFamily("pml_incidents", "Incidents imported.", labels=labels)
        resolve = SummaryMetricFamily(
            "pml_incident_resolve_seconds",
            "Time from start to resolution of resolved incidents.",
            labels=labels,
        )
        budget = CounterMetricFamily(
            "pml_error_budget_consumed_seconds", "Error budget consumed.", labels=labels
        )
        rows = usecases.incident_totals(self.library, self.cache)
        for row in rows:
            values = [row["service"], row["error_class"]]
            count.add_metric(values, row["incidents"])
            resolve.add_metric(
                values,
                count_value=row["resolve_seconds_count"],
                sum_value=row["resolve_seconds_sum"],
            )
            budget.add_metric(values, row["error_budget_seconds"])
        yield from (count, resolve, budget)


class RequestMetrics:
    """Counts and times requests. A pure ASGI middleware: the decorator form
    (BaseHTTPMiddleware) cost about a millisecond per request."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The route template, not the path, so /api/postmortems/{id} is one series.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "GET")
            self.latency.labels(method, route).observe(time.perf_counter() - started)
            self.requests.labels(method, route, str(status)).inc()


def install(app: FastAPI) -> None:
    """Count and time every request, and serve `/metrics`."""
    registry = CollectorRegistry()
    totals: dict[str, Any] = {}
    requests = Counter(
        "pml_http_requests",
        "HTTP requests answered.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "pml_http_request_duration_seconds",
        "Time to answer HTTP requests.",
        ["method", "route"],
        registry=registry,
    )

    app.add_middleware(RequestMetrics, requests=requests, latency=latency)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def prometheus_metrics(request: Request) -> Response:
        """Prometheus exposition: incident figures and request metrics."""
        scrape = CollectorRegistry()
        scrape.register(IncidentCollector(request.state.library, totals))
        body = generate_latest(scrape) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
