"""Trace context crosses HTTP requests and Kafka records, and log lines carry the trace id."""

import json
import logging

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chassis import BaseServiceSettings, create_app
from chassis.events import encode_event, new_event
from chassis.tracing import add_span_processor, configure_tracing, current_traceparent

from .test_consumer import TP, FakeConsumer, Record, make_consumer


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    configure_tracing("unit-tracing")
    exporter = InMemorySpanExporter()
    add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_no_traceparent_outside_a_span(spans) -> None:
    assert current_traceparent() is None


async def test_consumer_continues_the_trace_the_producer_stamped(spans) -> None:
    spans.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("place order") as producer_span:
        traceparent = current_traceparent()
    assert traceparent is not None
    event = new_event("order-placed", "order-service", "o-1", {})
    record = Record(0, encode_event(event), headers=(("traceparent", traceparent.encode()),))
    seen: list[str | None] = []

    async def handler(_):
        seen.append(current_traceparent())

    await make_consumer(handler, FakeConsumer()).process_batch({TP: [record]})
    consumer_span = next(s for s in spans.get_finished_spans() if s.name == "order-placed process")
    assert consumer_span.context.trace_id == producer_span.get_span_context().trace_id
    assert consumer_span.parent.span_id == producer_span.get_span_context().span_id
    assert seen[0] is not None
    assert seen[0].split("-")[1] == traceparent.split("-")[1]


def test_each_request_is_a_span_and_its_logs_carry_the_trace_id(spans, capsys) -> None:
    spans.clear()
    app = create_app(BaseServiceSettings(service_name="unit-tracing"), title="t")
    log = logging.getLogger("unit")

    @app.get("/work")
    async def work() -> dict[str, str | None]:
        log.warning("working")
        return {"traceparent": current_traceparent()}

    reply = TestClient(app).get("/work")
    trace_id = reply.json()["traceparent"].split("-")[1]
    assert any(format(s.context.trace_id, "032x") == trace_id for s in spans.get_finished_spans())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "working" in line]
    assert lines
    assert lines[-1]["trace_id"] == trace_id


def test_incoming_traceparent_is_continued(spans) -> None:
    app = create_app(BaseServiceSettings(service_name="unit-tracing"), title="t")

    @app.get("/echo")
    async def echo() -> dict[str, str | None]:
        return {"traceparent": current_traceparent()}

    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    reply = TestClient(app).get("/echo", headers={"traceparent": incoming})
    assert reply.json()["traceparent"].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
