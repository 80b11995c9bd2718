"""Order events leave through the outbox in their contract's shape (contracts/); key = order id."""

import asyncio
import uuid
from decimal import Decimal

import httpx
from aiokafka import AIOKafkaConsumer

from chassis.events import CloudEvent, decode_event
from contracts import ORDER_CANCELLED, ORDER_PLACED, ORDER_STATUS_CHANGED

from .conftest import StockFactory, Topics, order_body


async def _events_for(
    bootstrap: str, topics: list[str], order_id: str, count: int, wait: float = 20
) -> list[tuple[bytes, CloudEvent]]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    found: list[tuple[bytes, CloudEvent]] = []
    try:
        deadline = asyncio.get_running_loop().time() + wait
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = decode_event(record.value)
                    if event.subject == order_id:
                        found.append((record.key, event))
    finally:
        await consumer.stop()
    return found


async def test_placing_and_cancelling_publish_the_designed_events(
    client: httpx.AsyncClient, stock: StockFactory, topics: Topics, local_kafka: str
) -> None:
    product_id = await stock(5)
    order = (await client.post("/api/orders", json=order_body(product_id, 2, 999.99))).json()
    assert (await client.patch(f"/api/orders/{order['id']}/cancel")).status_code == 200
    # Cancelling again is a 200 no-op: the same order, and no second pair of events.
    again = await client.patch(f"/api/orders/{order['id']}/cancel")
    assert again.status_code == 200
    assert again.json()["status"] == "CANCELLED"

    # Ask for one more than expected: the wait runs out with exactly three.
    found = await _events_for(
        local_kafka,
        [topics.placed, topics.cancelled, topics.status_changed],
        order["id"],
        4,
        wait=5,
    )
    by_type = {event.type: (key, event) for key, event in found}
    assert len(found) == 3
    # Every event follows its contract (the consumers parse with the same models).
    for contract, topic in (
        (ORDER_PLACED, topics.placed),
        (ORDER_CANCELLED, topics.cancelled),
        (ORDER_STATUS_CHANGED, topics.status_changed),
    ):
        event = by_type[topic][1]
        assert event.dataschema == contract.dataschema
        contract.parse(event.data)
    key, placed = by_type[topics.placed]
    assert key == order["id"].encode()
    assert placed.source == "order-service"
    assert placed.data["order_id"] == order["id"]
    assert placed.data["order_number"] == order["order_number"]
    assert placed.data["customer_email"] == order["customer_email"]
    assert placed.data["customer_name"] == "Yash Vyas"
    assert placed.data["total_amount"] == Decimal("1999.98")
    assert placed.data["items"] == [
        {
            "product_id": product_id,
            "product_name": "iPhone 15 Pro",
            "quantity": 2,
            "unit_price": Decimal("999.99"),
        }
    ]
    _, cancelled = by_type[topics.cancelled]
    assert cancelled.data["order_id"] == order["id"]
    assert cancelled.data["total_amount"] == Decimal("1999.98")
    assert cancelled.data["items"] == placed.data["items"]
    _, changed = by_type[topics.status_changed]
    assert changed.data == {
        "order_id": order["id"],
        "order_number": order["order_number"],
        "from": "CONFIRMED",
        "to": "CANCELLED",
    }
