"""Events through the real broker: inventory-low leaves via the outbox; order events release or
commit reservations exactly once even when delivered again."""

import asyncio
import uuid
from collections.abc import Callable

import httpx
from aiokafka import AIOKafkaConsumer

from chassis.events import decode_event, new_event
from chassis.kafka import EventProducer
from chassis.postgres import create_engine
from contracts import ORDER_CANCELLED, ORDER_PLACED, ORDER_STATUS_CHANGED
from inventory_service.config import Settings
from inventory_service.repository import InventoryRepository
from inventory_service.service import InventoryService


async def _wait_for(predicate: Callable[[], object], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():  # type: ignore[misc]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def _stock(
    client: httpx.AsyncClient, product_id: str, quantity: int, threshold: int = 10
) -> None:
    reply = await client.post(
        "/api/inventory",
        json={
            "product_id": product_id,
            "product_name": "Desk Lamp",
            "quantity": quantity,
            "low_stock_threshold": threshold,
        },
    )
    assert reply.status_code == 201, reply.text


async def _reserve(client: httpx.AsyncClient, product_id: str, quantity: int) -> str:
    rid = str(uuid.uuid4())
    reply = await client.post(
        "/api/inventory/reservations",
        json={"reservation_id": rid, "items": [{"product_id": product_id, "quantity": quantity}]},
    )
    assert reply.status_code == 201, reply.text
    return rid


async def test_crossing_below_threshold_publishes_one_inventory_low_event(
    client, product_id, inventory_settings: Settings
) -> None:
    consumer = AIOKafkaConsumer(
        inventory_settings.topic_inventory_low,
        bootstrap_servers=inventory_settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        await _stock(client, product_id, 12, threshold=10)
        await client.patch(
            f"/api/inventory/{product_id}/reduce", json={"quantity": 2}
        )  # 10: not below
        await client.patch(
            f"/api/inventory/{product_id}/reduce", json={"quantity": 1}
        )  # 9: crosses
        await client.patch(
            f"/api/inventory/{product_id}/reduce", json={"quantity": 1}
        )  # 8: already low
        events = []
        loop = asyncio.get_running_loop()
        first_deadline, settle_until = loop.time() + 15, None
        # Read until the first alert arrives, then a little longer to catch any duplicate.
        while loop.time() < (settle_until or first_deadline):
            batch = await consumer.getmany(timeout_ms=200)
            events += [decode_event(r.value) for rs in batch.values() for r in rs]
            if settle_until is None and any(e.subject == product_id for e in events):
                settle_until = loop.time() + 1.5
        mine = [e for e in events if e.subject == product_id]
        assert len(mine) == 1
        assert mine[0].type == inventory_settings.topic_inventory_low
        assert mine[0].data == {
            "product_id": product_id,
            "product_name": "Desk Lamp",
            "available_qty": 9,
            "threshold": 10,
        }
    finally:
        await consumer.stop()


async def test_order_cancelled_releases_reservation_once_even_if_redelivered(
    client, product_id, inventory_settings: Settings
) -> None:
    await _stock(client, product_id, 10)
    rid = await _reserve(client, product_id, 4)
    second = await _reserve(client, product_id, 3)
    producer = EventProducer(inventory_settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        event = new_event(
            inventory_settings.topic_order_cancelled,
            "order-service",
            rid,
            {**ORDER_CANCELLED.examples[0], "order_id": rid},
        )
        for _ in range(3):  # at-least-once delivery: the same event id arrives three times
            await producer.publish(inventory_settings.topic_order_cancelled, event)

        async def released() -> bool:
            reply = await client.get(f"/api/inventory/reservations/{rid}")
            return bool(reply.json()["status"] == "RELEASED")

        await _wait_for(released)
        await asyncio.sleep(1.0)  # give the duplicates time to (not) do harm
        item = (await client.get(f"/api/inventory/{product_id}")).json()
        assert item["reserved_qty"] == 3  # only the other reservation is still held
        assert (await client.get(f"/api/inventory/reservations/{second}")).json()[
            "status"
        ] == "HELD"
    finally:
        await producer.stop()


async def test_order_shipped_commits_reservation(client, product_id, inventory_settings) -> None:
    await _stock(client, product_id, 10)
    rid = await _reserve(client, product_id, 4)
    producer = EventProducer(inventory_settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        topic = inventory_settings.topic_order_status_changed
        shipped = new_event(
            topic,
            "order-service",
            rid,
            {
                **ORDER_STATUS_CHANGED.examples[0],
                "order_id": rid,
                "from": "CONFIRMED",
                "to": "SHIPPED",
            },
        )
        await producer.publish(topic, shipped)
        await producer.publish(topic, shipped)

        async def committed() -> bool:
            reply = await client.get(f"/api/inventory/reservations/{rid}")
            return bool(reply.json()["status"] == "COMMITTED")

        await _wait_for(committed)
        await asyncio.sleep(0.5)
        item = (await client.get(f"/api/inventory/{product_id}")).json()
        assert (item["quantity"], item["reserved_qty"], item["available_qty"]) == (6, 0, 6)
    finally:
        await producer.stop()


async def test_order_placed_confirms_held_reservation(
    client, product_id, inventory_settings
) -> None:
    await _stock(client, product_id, 10)
    rid = await _reserve(client, product_id, 2)
    producer = EventProducer(inventory_settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        topic = inventory_settings.topic_order_placed
        data = {**ORDER_PLACED.examples[0], "order_id": rid}
        await producer.publish(topic, new_event(topic, "order-service", rid, data))

        async def confirmed() -> bool:
            reply = await client.get(f"/api/inventory/reservations/{rid}")
            return bool(reply.json()["status"] == "CONFIRMED")

        await _wait_for(confirmed)
    finally:
        await producer.stop()


async def test_a_product_deleted_in_the_catalog_retires_its_stock_row(
    client, inventory_settings: Settings
) -> None:
    # Issue 10, defect 10: deleting a product left its inventory row behind.
    free, held = f"gone-{uuid.uuid4().hex[:8]}", f"gone-held-{uuid.uuid4().hex[:8]}"
    await _stock(client, free, 10)
    await _stock(client, held, 10)
    rid = await _reserve(client, held, 4)
    topic = inventory_settings.topic_product_updated
    producer = EventProducer(inventory_settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for product_id in (free, held):
            deleted = new_event(
                topic,
                "product-service",
                product_id,
                {"op": "delete", "product_id": product_id, "version": 2},
            )
            await producer.publish(topic, deleted)
            await producer.publish(topic, deleted)  # redelivered: applied once

        async def free_gone() -> bool:
            return (await client.get(f"/api/inventory/{free}")).status_code == 404

        await _wait_for(free_gone)

        async def held_emptied() -> bool:
            item = (await client.get(f"/api/inventory/{held}")).json()
            return bool(item["available_qty"] == 0)

        await _wait_for(held_emptied)
        item = (await client.get(f"/api/inventory/{held}")).json()
        assert item["reserved_qty"] == 4  # the order in flight keeps its units
        assert (await client.get(f"/api/inventory/reservations/{rid}")).json()["status"] == "HELD"
    finally:
        await producer.stop()


async def test_order_placed_is_applied_once_whatever_the_reservation_s_state(
    client, product_id, inventory_settings: Settings
) -> None:
    """The order-placed handler (claim and confirm in one statement): a held reservation is
    confirmed; an already confirmed one, a released one and an unknown id change nothing; each
    event id is recorded once, so a redelivery is skipped."""
    topic = inventory_settings.topic_order_placed
    await _stock(client, product_id, 10)
    held, confirmed, released = [await _reserve(client, product_id, 1) for _ in range(3)]
    await client.post(f"/api/inventory/reservations/{confirmed}/confirm")
    await client.post(f"/api/inventory/reservations/{released}/release")
    unknown = str(uuid.uuid4())
    events = {
        rid: new_event(topic, "order-service", rid, {**ORDER_PLACED.examples[0], "order_id": rid})
        for rid in (held, confirmed, released, unknown)
    }
    repository = InventoryRepository(create_engine(inventory_settings))
    try:
        service = InventoryService(repository, inventory_settings)
        for _ in range(2):  # the second round is a redelivery of every event
            for event in events.values():
                await service.handle_event(event)
        async with repository.driver_connection() as connection:
            marks = await connection.fetchval(
                "SELECT count(*) FROM processed_events WHERE consumer = $1 AND event_id = ANY($2)",
                inventory_settings.consumer_group,
                [event.id for event in events.values()],
            )
    finally:
        await repository.close()
    assert marks == 4
    statuses = {
        rid: (await client.get(f"/api/inventory/reservations/{rid}")).json().get("status")
        for rid in events
    }
    assert statuses == {
        held: "CONFIRMED",
        confirmed: "CONFIRMED",
        released: "RELEASED",
        unknown: None,
    }
    item = (await client.get(f"/api/inventory/{product_id}")).json()
    assert item["reserved_qty"] == 2
