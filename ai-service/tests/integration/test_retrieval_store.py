"""Against real Redis and the broker: bought-together counts survive redelivery (once per
event id), a restart takes every vector from the Redis cache instead of embedding again, the
rebuild command recomputes them all, and a product-updated event is searchable by meaning."""

import asyncio
import uuid
from decimal import Decimal

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from ai_service.config import Settings
from ai_service.copurchase import CoPurchases
from ai_service.main import build_app
from ai_service.rebuild_index import rebuild
from chassis.events import new_event
from chassis.kafka import EventProducer

from .conftest import CATALOG, Topics, product_doc, product_service, wait_for


async def test_an_order_counts_once_however_often_it_is_delivered(local_redis: str) -> None:
    redis = Redis.from_url(local_redis, decode_responses=True)
    store = CoPurchases(redis, prefix=f"ai-cp-{uuid.uuid4().hex[:8]}", dedup_ttl_seconds=60)
    try:
        assert await store.record("event-1", ["a", "b", "c"])
        assert not await store.record("event-1", ["a", "b", "c"])  # redelivered
        assert await store.record("event-2", ["a", "b", "b"])
        assert not await store.record("event-3", ["a"])  # nothing bought together
        assert await store.bought_with("a", 5) == [("b", 2), ("c", 1)]
        assert sorted(await store.bought_with("c", 5)) == [("a", 1), ("b", 1)]
    finally:
        await redis.aclose()


async def test_counting_and_reading_in_one_script_is_counting_then_reading(
    local_redis: str,
) -> None:
    # order_follow_up's one round trip against record() + bought_with() one by one, side by
    # side on two prefixes fed the same orders.
    redis = Redis.from_url(local_redis, decode_responses=True)
    run = uuid.uuid4().hex[:8]
    one = CoPurchases(redis, prefix=f"ai-cp1-{run}", dedup_ttl_seconds=60)
    apart = CoPurchases(redis, prefix=f"ai-cp2-{run}", dedup_ttl_seconds=60)
    orders = [
        ("event-1", ["a", "b", "c"], ["a", "c"]),
        ("event-1", ["a", "b", "c"], ["a"]),  # redelivered: nothing counted, still read
        ("event-2", ["a", "b", "b"], ["b", "b", "z"]),  # "z" never bought with anything
        ("event-3", ["a"], ["a"]),  # one product: nothing to count
        ("event-4", ["", "d"], []),
        ("event-5", ["d", "a"], ["d"]),
    ]
    try:
        for event_id, products, read in orders:
            counted, together = await one.record_and_read(event_id, products, read, 3)
            assert counted == await apart.record(event_id, products)
            assert together == {p: await apart.bought_with(p, 3) for p in read}
        assert together == {"d": [("a", 1)]}
        assert (await one.record_and_read("event-6", ["x"], [], 3)) == (False, {})
        # The counts themselves are the same as counted one by one.
        for product_id in "abcd":
            assert await one.bought_with(product_id, 10) == await apart.bought_with(product_id, 10)
    finally:
        await redis.aclose()


async def test_order_placed_twice_feeds_bought_together_once(
    ai_app: FastAPI,
    producer: EventProducer,
    topics: Topics,
    client: httpx.AsyncClient,
) -> None:
    phone, case = CATALOG[0], CATALOG[2]
    order_id = str(uuid.uuid4())
    data = {
        "order_id": order_id,
        "order_number": "ORD-20261202-CP000001",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "total_amount": Decimal("1029.98"),
        "items": [
            {
                "product_id": p["id"],
                "product_name": p["name"],
                "quantity": 1,
                "unit_price": Decimal(str(p["price"])),
            }
            for p in (phone, case)
        ],
    }
    event = new_event(topics.placed, "order-service", order_id, data)
    for _ in range(2):
        await producer.publish(topics.placed, event)

    async def counted() -> bool:
        reply = await client.get("/api/ai/recommendations", params={"product_id": phone["id"]})
        return any(
            r["reason"].startswith("Often bought with") for r in reply.json()["recommendations"]
        )

    await wait_for(counted, within=30)
    await asyncio.sleep(1.0)  # the second delivery has been handled too
    reply = (await client.get("/api/ai/recommendations", params={"product_id": phone["id"]})).json()
    first = reply["recommendations"][0]
    assert (first["product_id"], first["name"], first["price"]) == (
        case["id"],
        case["name"],
        case["price"],
    )
    assert first["reason"] == "Often bought with iPhone 15 Pro (1 order)"
    assert all(r["product_id"] != phone["id"] for r in reply["recommendations"])


async def _embedded(app: FastAPI) -> None:
    await wait_for(lambda: _loaded(app), within=60)
    async with asyncio.timeout(120):
        await app.state.indexer.wait_idle()


async def _loaded(app: FastAPI) -> bool:
    return bool(app.state.catalog.loaded)


async def test_a_restart_takes_vectors_from_redis_and_rebuild_recomputes_them(
    ai_settings: Settings,
) -> None:
    settings = ai_settings.model_copy(
        update={
            "redis_key_prefix": f"ai-restart-{uuid.uuid4().hex[:8]}",
            "run_event_consumer": False,
        }
    )
    computed = []
    for _ in range(2):
        app = build_app(settings, products_transport=product_service(CATALOG))
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            await _embedded(app)
            computed.append((app.state.indexer.computed, app.state.indexer.cached))
    assert computed == [(len(CATALOG), 0), (0, len(CATALOG))]

    lines: list[str] = []
    summary = await rebuild(settings, transport=product_service(CATALOG), progress=lines.append)
    assert (summary["products"], summary["embedded"], summary["removed"]) == (
        len(CATALOG),
        len(CATALOG),
        len(CATALOG),
    )
    assert lines[-1] == f"embedded {len(CATALOG)}/{len(CATALOG)}"
    app = build_app(settings, products_transport=product_service(CATALOG))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        await _embedded(app)
        assert (app.state.indexer.computed, app.state.indexer.cached) == (0, len(CATALOG))


async def test_a_product_from_an_event_is_found_by_meaning(
    ai_app: FastAPI,
    ai_fastapi: FastAPI,
    producer: EventProducer,
    topics: Topics,
    client: httpx.AsyncClient,
) -> None:
    pid = uuid.uuid4().hex[:24]
    doc = product_doc(
        pid,
        "Ninja Air Fryer Max XL",
        "129.99",
        "Kitchen",
        ["air-fryer", "appliance"],
        "5.5-quart air fryer with max crisp.",
    )
    await producer.publish(
        topics.product_updated,
        new_event(
            topics.product_updated,
            "product-service",
            pid,
            {
                "op": "upsert",
                "product_id": pid,
                "version": 1,
                "product": {**doc, "price": Decimal("129.99")},
            },
        ),
    )
    catalog = ai_fastapi.state.catalog

    async def embedded() -> bool:
        return pid in catalog.vectors

    await wait_for(embedded, within=60)
    reply = (
        await client.post("/api/ai/suggest", json={"query": "crispy fries without deep frying"})
    ).json()
    assert reply["matches"][0]["product_id"] == pid
    assert reply["matches"][0]["price"] == 129.99


async def test_a_follow_up_with_one_round_trip_is_the_follow_up_made_call_by_call(
    local_redis: str,
) -> None:
    from ai_service.catalog import CatalogIndex, Product
    from ai_service.service import AssistantService

    def catalog() -> CatalogIndex:
        index = CatalogIndex()
        for pid, name, category in [
            ("lamp", "Desk Lamp", "Home"),
            ("bulb", "LED Bulb", "Home"),
            ("shade", "Lamp Shade", "Home"),
            ("desk", "Oak Desk", "Furniture"),
            ("chair", "Desk Chair", "Furniture"),
        ]:
            index.upsert(Product(id=pid, name=name, price=Decimal("10"), category=category))
        return index

    redis = Redis.from_url(local_redis, decode_responses=True)
    run = uuid.uuid4().hex[:8]
    settings = Settings()
    one = AssistantService(
        catalog(),
        None,
        settings,
        copurchases=CoPurchases(redis, prefix=f"ai-fu1-{run}", dedup_ttl_seconds=60),
    )
    apart = AssistantService(
        catalog(),
        None,
        settings,
        copurchases=CoPurchases(redis, prefix=f"ai-fu2-{run}", dedup_ttl_seconds=60),
    )
    orders = [
        ("e1", [("lamp", "Desk Lamp"), ("bulb", "LED Bulb"), ("desk", "Oak Desk")]),
        ("e2", [("lamp", "Desk Lamp"), ("shade", "Lamp Shade")]),
        ("e2", [("lamp", "Desk Lamp"), ("shade", "Lamp Shade")]),  # redelivered
        ("e3", [("chair", "Desk Chair")]),  # one product: the call-by-call path
        ("e4", [("gone", "Lamp Shade"), ("bulb", "LED Bulb")]),  # found by name
        ("e5", [("x", "Nothing Like It"), ("desk", "Oak Desk")]),
    ]
    try:
        for event_id, items in orders:
            counted, email, by = await one.order_follow_up(event_id, "Ada", "ORD-1", items)
            assert counted == await apart.record_order(event_id, [p for p, _ in items])
            assert (email, by) == await apart.follow_up_email("Ada", "ORD-1", items)
    finally:
        await redis.aclose()
