"""product-updated through the real broker: one event per change, in the same transaction as
the change (outbox), published within milliseconds, and never lost while Kafka is away."""

import asyncio
import statistics
import time
import uuid
from decimal import Decimal

import httpx
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from chassis.events import decode_event
from product_service.config import Settings
from product_service.main import build_app


async def test_every_change_emits_one_event_with_version_and_full_product(
    client, product_body, events, product_settings: Settings
) -> None:
    created = (await client.post("/api/products", json=product_body(price=1999.98))).json()
    pid = created["id"]
    updated = (await client.put(f"/api/products/{pid}", json={"price": 10})).json()
    await client.delete(f"/api/products/{pid}")

    mine = await events.for_product(pid, 3, settle=1.0)
    assert len(mine) == 3
    assert all(key == pid.encode() for _, key in mine)
    upsert1, upsert2, deletion = (event for event, _ in mine)
    for event in (upsert1, upsert2, deletion):
        assert event.type == product_settings.topic_product_updated
        assert event.source == "product-service"
        assert event.subject == pid
    assert upsert1.data == {
        "op": "upsert",
        "product_id": pid,
        "version": 1,
        "product": {**created, "price": Decimal("1999.98")},
    }
    assert upsert2.data["version"] == 2
    assert upsert2.data["product"] == {**updated, "price": Decimal("10.00")}
    assert deletion.data == {"op": "delete", "product_id": pid, "version": 3}


async def test_event_reaches_the_broker_within_milliseconds_of_the_reply(
    client, product_body, events
) -> None:
    latencies = []
    for i in range(20):
        started = time.perf_counter()
        reply = await client.post("/api/products", json=product_body(name=f"Fast {i}"))
        pid = reply.json()["id"]
        [(_event, _key)] = await events.for_product(pid, 1, within=5)
        latencies.append(time.perf_counter() - started)
    median = statistics.median(latencies)
    print(
        f"create -> event on broker: median {median * 1000:.1f} ms, max "
        f"{max(latencies) * 1000:.1f} ms"
    )
    assert median < 0.1


async def test_change_committed_while_kafka_is_down_is_published_when_it_returns(
    local_mongo, absent_broker, product_body
) -> None:
    settings = Settings(
        mongodb_url=local_mongo,
        mongodb_db=f"product_outage_{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=absent_broker.bootstrap,
        topic_product_updated="product-updated",
        outbox_publish_timeout_seconds=3,
        outbox_lease_seconds=10,
    )
    app = build_app(settings)
    mongo: AsyncMongoClient = AsyncMongoClient(local_mongo)
    outbox = mongo[settings.mongodb_db]["outbox"]
    try:
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://p") as client:
                # Kafka is away: the API keeps answering and the outbox holds the events.
                created = await client.post("/api/products", json=product_body())
                assert created.status_code == 201
                pid = created.json()["id"]
                assert (
                    await client.put(f"/api/products/{pid}", json={"stock_quantity": 1})
                ).status_code == 200
                assert (await client.get("/ready")).status_code == 200
                await asyncio.sleep(1.0)
                assert await outbox.count_documents({"sent_at": {"$eq": None}}) == 2

                await absent_broker.start()
                deadline = asyncio.get_running_loop().time() + 60
                while await outbox.count_documents({"sent_at": {"$eq": None}}) != 0:
                    assert asyncio.get_running_loop().time() < deadline, "never published"
                    await asyncio.sleep(0.2)
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            "product-updated",
            bootstrap_servers=absent_broker.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            records = []
            deadline = asyncio.get_running_loop().time() + 10
            while len(records) < 2 and asyncio.get_running_loop().time() < deadline:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += batch
        finally:
            await consumer.stop()
        versions = [decode_event(r.value).data["version"] for r in records]
        assert versions == [1, 2]
    finally:
        await mongo.drop_database(settings.mongodb_db)
        await mongo.close()
