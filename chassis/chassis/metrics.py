"""Prometheus RED metrics per route (rate, errors, duration) and the /metrics endpoint."""

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
ERRORS = Counter(
    "http_request_errors_total", "HTTP requests answered 5xx", ["service", "method", "route"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class RouteMetrics:
    """RED metrics of one service's requests, recorded by the chassis's request middleware
    (chassis.app.RequestMiddleware). The labelled children are looked up once per
    (method, route, status) and kept: `labels()` takes a lock and builds a key every call."""

    MAX_KEPT = 2048  # methods are the client's text: past this, children are not kept

    def __init__(self, service: str) -> None:
        self.service = service
        self._kept: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._kept.get(key)
        if children is None:
            children = (
                REQUESTS.labels(self.service, method, route, str(status)),
                LATENCY.labels(self.service, method, route),
                ERRORS.labels(self.service, method, route) if status >= 500 else None,
            )
            if len(self._kept) < self.MAX_KEPT:
                self._kept[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()


def install_metrics(app: FastAPI) -> None:
    """The /metrics endpoint (Prometheus text format)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
