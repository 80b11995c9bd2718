"""product-updated through the real broker: upserts and deletes land with their version as an
external version, so a late older event never overwrites a newer one and redelivery is harmless;
events with bad data are dead-lettered."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from chassis.events import CloudEvent, new_event
from chassis.kafka import EventProducer
from search_service.config import Settings
from search_service.service import SearchService


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def product_event(
    settings: Settings, op: str, product_id: str, version: int, product: dict[str, Any] | None
) -> CloudEvent:
    data: dict[str, Any] = {"op": op, "product_id": product_id, "version": version}
    if product is not None:
        data["product"] = {
            **product,
            "id": product_id,
            "version": version,
            "price": Decimal(str(product["price"])),
        }
    return new_event(settings.topic_product_updated, "product-service", product_id, data)


@pytest.fixture
def publish_and_wait_handled(
    producer: EventProducer, handled_count: Callable[[], float]
) -> Callable[[Settings, list[CloudEvent]], Awaitable[None]]:
    async def publish(settings: Settings, events: list[CloudEvent]) -> None:
        """Publish in order (one key, one partition); wait until the consumer handled them."""
        before = handled_count()
        for event in events:
            await producer.publish(settings.topic_product_updated, event)

        async def handled() -> bool:
            return handled_count() >= before + len(events)

        await wait_for(handled)

    return publish


async def stored(service: SearchService, product_id: str) -> dict[str, Any] | None:
    """The stored document and its external version, read straight from Elasticsearch."""
    index = service.index
    reply = await index.es.options(ignore_status=404).get(index=index.alias, id=product_id)
    if reply.meta.status == 404 or not reply.body.get("found"):
        return None
    return {**reply.body["_source"], "_version": reply.body.get("_version")}


async def test_upsert_event_makes_the_product_searchable(
    client, publish_and_wait_handled, make_product, search_settings, service
) -> None:
    pid = uuid.uuid4().hex[:24]
    word = f"zq{uuid.uuid4().hex[:6]}"
    product = make_product(f"Walnut {word} Shelf", price=129.5, category="Furniture")
    await publish_and_wait_handled(
        search_settings, [product_event(search_settings, "upsert", pid, 1, product)]
    )

    async def searchable() -> bool:
        reply = await client.get("/api/search", params={"q": word})
        return bool(reply.json()["total"] == 1)

    await wait_for(searchable)
    hit = (await client.get("/api/search", params={"q": word})).json()["hits"][0]
    assert hit["id"] == pid
    assert hit["price"] == 129.5
    assert hit["category"] == "Furniture"


async def test_older_version_never_overwrites_a_newer_one(
    publish_and_wait_handled, make_product, search_settings, service
) -> None:
    pid = uuid.uuid4().hex[:24]
    newer = product_event(
        search_settings, "upsert", pid, 2, make_product("Lamp version two", price=20)
    )
    older = product_event(
        search_settings, "upsert", pid, 1, make_product("Lamp version one", price=10)
    )
    # Out of order: v2 is delivered first, v1 arrives late.
    await publish_and_wait_handled(search_settings, [newer, older])
    document = await stored(service, pid)
    assert document is not None
    assert document["name"] == "Lamp version two"
    assert document["version"] == 2
    assert document["_version"] == 2


async def test_redelivered_event_is_applied_once(
    publish_and_wait_handled, make_product, search_settings, service
) -> None:
    pid = uuid.uuid4().hex[:24]
    event = product_event(search_settings, "upsert", pid, 5, make_product("Copper Kettle"))
    await publish_and_wait_handled(search_settings, [event, event, event])
    document = await stored(service, pid)
    assert document is not None
    assert (document["name"], document["version"], document["_version"]) == ("Copper Kettle", 5, 5)


async def test_delete_removes_the_product_and_a_late_upsert_cannot_revive_it(
    client, publish_and_wait_handled, make_product, search_settings, service
) -> None:
    pid = uuid.uuid4().hex[:24]
    word = f"zq{uuid.uuid4().hex[:6]}"
    upsert = product_event(search_settings, "upsert", pid, 1, make_product(f"Teapot {word}"))
    delete = product_event(search_settings, "delete", pid, 2, None)
    await publish_and_wait_handled(search_settings, [upsert, delete])
    await service.index.es.indices.refresh(index=service.index.alias)
    assert (await client.get("/api/search", params={"q": word})).json()["total"] == 0
    # The upsert is delivered again after the delete (at-least-once, out of order).
    await publish_and_wait_handled(search_settings, [upsert])
    await service.index.es.indices.refresh(index=service.index.alias)
    assert (await client.get("/api/search", params={"q": word})).json()["total"] == 0
    assert (await client.get("/api/search/autocomplete", params={"q": "Teapot " + word})).json()[
        "suggestions"
    ] == []
    document = await stored(service, pid)
    assert document is not None
    assert document["deleted"] is True
    assert document["version"] == 2


async def test_event_with_bad_data_goes_to_the_dlq(producer, search_settings) -> None:
    pid = uuid.uuid4().hex[:24]
    dlq = AIOKafkaConsumer(
        f"{search_settings.topic_product_updated}.dlq",
        bootstrap_servers=search_settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await dlq.start()
    try:
        # An upsert without its product can never be applied.
        poison = new_event(
            search_settings.topic_product_updated,
            "product-service",
            pid,
            {"op": "upsert", "product_id": pid, "version": 1},
        )
        await producer.publish(search_settings.topic_product_updated, poison)
        found = None
        deadline = asyncio.get_running_loop().time() + 20
        while found is None and asyncio.get_running_loop().time() < deadline:
            batch = await dlq.getmany(timeout_ms=300)
            for records in batch.values():
                for record in records:
                    if record.key == pid.encode():
                        found = record
        assert found is not None, "poison event never reached the DLQ"
        headers = dict(found.headers)
        assert headers["x-error-type"] == b"PoisonEvent"
        assert b"must carry the product document" in headers["x-error"]
    finally:
        await dlq.stop()
