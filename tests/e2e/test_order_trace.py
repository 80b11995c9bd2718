"""One placed order is one trace: the gateway's request, the saga's calls and the asynchronous
event handling in other services all report spans under the trace id the caller started."""

import json
import time
import urllib.request
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


def test_placed_order_is_one_trace_across_http_and_kafka(otlp, gateway_url, inventory_url) -> None:
    receiver, _ = otlp
    product_id = f"e2e-{uuid.uuid4().hex[:8]}"
    stocked = httpx.post(
        f"{inventory_url}/api/inventory",
        timeout=10,
        json={"product_id": product_id, "product_name": "Trace Lamp", "quantity": 5},
    )
    assert stocked.status_code == 201, stocked.text

    # Plain urllib: if another test in this process instrumented httpx, httpx would replace
    # the traceparent below with one of its own.
    order = json.dumps(
        {
            "customer_name": "Ada",
            "customer_email": "ada@example.com",
            "items": [
                {
                    "product_id": product_id,
                    "product_name": "Trace Lamp",
                    "quantity": 1,
                    "unit_price": 19.99,
                }
            ],
        }
    ).encode()
    request = urllib.request.Request(
        f"{gateway_url}/api/orders",
        data=order,
        method="POST",
        headers={
            "content-type": "application/json",
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        },
    )
    with urllib.request.urlopen(request, timeout=15) as reply:
        assert reply.status == 201

    synchronous = {"api-gateway", "order-service", "inventory-service"}
    seen = _wait_for_services(receiver, TRACE_ID, synchronous)
    assert synchronous <= seen
    spans = [s for s in receiver.spans if s.trace_id == TRACE_ID]
    # The synchronous hop: inventory's reservation request under order-service's client call.
    assert any(s.service == "inventory-service" and "reservations" in s.name for s in spans)
    # The asynchronous hops: inventory and notification consumed order-placed in the same trace
    # (notification's span includes sending the confirmation email).
    for consumer in ("inventory-service", "notification-service"):
        deadline = time.monotonic() + 20
        while not any(
            s.service == consumer and s.name.endswith(" process")
            for s in receiver.spans
            if s.trace_id == TRACE_ID
        ):
            assert time.monotonic() < deadline, f"{consumer} never handled order-placed here"
            time.sleep(0.1)
