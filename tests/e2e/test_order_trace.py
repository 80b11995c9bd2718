"""One placed order is one trace: the request, the saga's calls and the asynchronous event
handling in other services all report spans under the trace id the caller started."""

import time
import uuid

import httpx

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _wait_for_services(receiver, trace_id: str, wanted: set[str], seconds: float = 20) -> set[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = receiver.services_in_trace(trace_id)
        if wanted <= seen:
            return seen
        time.sleep(0.1)
    return receiver.services_in_trace(trace_id)


def test_placed_order_is_one_trace_across_http_and_kafka(otlp, order_url, inventory_url) -> None:
    receiver, _ = otlp
    product_id = f"e2e-{uuid.uuid4().hex[:8]}"
    stocked = httpx.post(f"{inventory_url}/api/inventory", timeout=10, json={
        "product_id": product_id, "product_name": "Trace Lamp", "quantity": 5})
    assert stocked.status_code == 201, stocked.text

    reply = httpx.post(
        f"{order_url}/api/orders",
        timeout=15,
        headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        json={"customer_name": "Ada", "customer_email": "ada@example.com", "items": [
            {"product_id": product_id, "product_name": "Trace Lamp", "quantity": 1,
             "unit_price": 19.99}]},
    )
    assert reply.status_code == 201, reply.text

    seen = _wait_for_services(receiver, TRACE_ID, {"order-service", "inventory-service"})
    assert {"order-service", "inventory-service"} <= seen
    spans = [s for s in receiver.spans if s.trace_id == TRACE_ID]
    # The synchronous hop: inventory's reservation request under order-service's client call.
    assert any(s.service == "inventory-service" and "reservations" in s.name for s in spans)
    # The asynchronous hop: inventory consumed order-placed inside the same trace.
    deadline = time.monotonic() + 20
    while not any(s.service == "inventory-service" and s.name.endswith(" process")
                  for s in receiver.spans if s.trace_id == TRACE_ID):
        assert time.monotonic() < deadline, "inventory never handled order-placed in this trace"
        time.sleep(0.1)
