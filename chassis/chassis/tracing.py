"""OpenTelemetry tracing: one placed order is one trace, across HTTP calls and Kafka hops.

Every service gets, through create_app: a tracer provider named after the service, spans for
each request (FastAPI) and for outbound HTTP (httpx), Redis and MongoDB calls, and SQL spans for
engines made by chassis.postgres.create_engine. Kafka carries the W3C `traceparent` as a record
header: producers and the outboxes stamp the context current when the event was written, and
the consumer loop runs each handler inside a span whose parent is that context. Spans are
exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Tracing is on only when it goes somewhere: without an endpoint no tracer provider is installed
and nothing is instrumented, so a request pays nothing for it (`bench/hot_paths.py` measured the
spans nobody exports at a third of a read's CPU). Each request is traced once: by the
OpenTelemetry ASGI middleware; FastAPI's own native telemetry is switched off in create_app.
Tests that want spans without a collector call configure_tracing() themselves first.
"""

import importlib.util
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    # The SDK is imported by configure_tracing only: with tracing off (no endpoint) a service
    # does not load it (~4.5 MB of RSS per process).
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    # SQLAlchemy is the chassis[postgres] extra: not in every image
    from sqlalchemy.ext.asyncio import AsyncEngine

# Probes and scrapes would drown the traces that matter.
UNTRACED_PATHS = "health,ready,metrics"

_provider: "TracerProvider | None" = None


def tracing_enabled() -> bool:
    return _provider is not None


def configure_tracing(service: str, otlp_endpoint: str | None = None) -> "TracerProvider":
    """Install the process-wide tracer provider once (the first service in a process names it)
    and instrument the client libraries."""
    global _provider
    if _provider is not None:
        return _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_clients()
    _provider = provider
    return provider


def add_span_processor(processor: "SpanProcessor") -> None:
    """Tests attach an in-memory exporter here."""
    if _provider is None:
        raise RuntimeError("configure_tracing() has not run yet")
    _provider.add_span_processor(processor)


def _instrument_clients() -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    # A service image holds only its own drivers; instrument the ones that are installed.
    if importlib.util.find_spec("redis") is not None:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor().instrument()
    if importlib.util.find_spec("pymongo") is not None:
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        PymongoInstrumentor().instrument()


def configure_tracing_from_settings(service: str, otlp_endpoint: str | None) -> bool:
    """create_app's switch: tracing on when an endpoint is set (or a test configured it)."""
    if otlp_endpoint:
        configure_tracing(service, otlp_endpoint)
    return tracing_enabled()


def instrument_app(app: FastAPI) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # One server span per request; the per-message ASGI send/receive spans add cost, not insight.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )


def instrument_engine(engine: "AsyncEngine") -> None:
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, to travel with an event; None outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> otel_context.Context:
    """The trace context a Kafka record carries (an empty context when it carries none)."""
    carrier: Mapping[str, str] = {
        key: value.decode("latin-1") for key, value in headers or () if key == "traceparent"
    }
    return propagate.extract(carrier)


def trace_ids() -> dict[str, str]:
    """trace_id / span_id of the active span, for log lines."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }
