"""Through the real broker: product-updated keeps the index current (never older), and an
order-placed delivered three times yields one ai-notification-ready with a derived id."""

import asyncio
import uuid
from decimal import Decimal

import httpx
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI

from ai_service.events import follow_up_event_id
from chassis.events import CloudEvent, decode_event, new_event
from chassis.kafka import EventProducer

from .conftest import Topics, order_data, product_doc, wait_for


async def test_product_events_update_the_index_and_older_versions_are_ignored(
    ai_app: FastAPI,
    ai_fastapi: FastAPI,
    producer: EventProducer,
    topics: Topics,
    client: httpx.AsyncClient,
) -> None:
    pid = uuid.uuid4().hex[:24]
    newer = product_doc(pid, "Espresso Grinder", "249.00", "Kitchen", ["coffee"], version=3)
    older = product_doc(pid, "Old Grinder Name", "199.00", "Kitchen", ["coffee"], version=2)
    for doc in (newer, older):
        await producer.publish(
            topics.product_updated,
            new_event(
                topics.product_updated,
                "product-service",
                pid,
                {
                    "op": "upsert",
                    "product_id": pid,
                    "version": doc["version"],
                    "product": {**doc, "price": Decimal(str(doc["price"]))},
                },
            ),
        )
    catalog = ai_fastapi.state.catalog

    async def has_it() -> bool:
        return catalog.versions.get(pid) == 3

    await wait_for(has_it)
    await asyncio.sleep(0.5)  # the older event arrives after: it must not win
    assert catalog.get(pid).name == "Espresso Grinder"
    reply = (await client.post("/api/ai/chat", json={"message": "coffee grinder"})).json()
    assert reply["products"][0]["product_id"] == pid
    assert reply["products"][0]["price"] == 249.0

    await producer.publish(
        topics.product_updated,
        new_event(
            topics.product_updated,
            "product-service",
            pid,
            {"op": "delete", "product_id": pid, "version": 4},
        ),
    )

    async def gone() -> bool:
        return catalog.get(pid) is None

    await wait_for(gone)


async def test_order_placed_three_times_publishes_one_follow_up(
    ai_app: FastAPI,
    producer: EventProducer,
    topics: Topics,
    local_kafka: str,
) -> None:
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    data = order_data(email, "ORD-20261125-AI000001")
    placed = new_event(topics.placed, "order-service", data["order_id"], data)
    probe = AIOKafkaConsumer(
        topics.ai_ready,
        bootstrap_servers=local_kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await probe.start()
    try:
        for _ in range(3):
            await producer.publish(topics.placed, placed)
        mine: list[tuple[bytes, CloudEvent]] = []
        loop = asyncio.get_running_loop()
        deadline, settle = loop.time() + 30, None
        while loop.time() < (settle or deadline):
            batch = await probe.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    event = decode_event(record.value)
                    if event.data.get("customer_email") == email:
                        mine.append((record.key, event))
            if mine and settle is None:
                settle = loop.time() + 2.0
        assert len(mine) == 1
        key, event = mine[0]
        assert key == data["order_id"].encode()
        assert event.id == follow_up_event_id(placed.id)
        assert event.type == topics.ai_ready
        assert event.source == "ai-service"
        assert event.data["order_number"] == "ORD-20261125-AI000001"
        assert event.data["subject"] == "Yash, thanks for your order ORD-20261125-AI000001"
        assert "iPhone 15 Pro Case" in event.data["body_text"]  # a real related product
    finally:
        await probe.stop()
