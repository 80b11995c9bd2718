"""POST /api/search/reindex: rebuilds from product-service into a new index and swaps the alias
in one step; searches keep answering meanwhile, events arriving during the rebuild are kept,
and a failed rebuild leaves the live index untouched."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from chassis.events import new_event
from search_service.config import Settings
from search_service.events import ProductUpdated
from search_service.service import SearchService


async def _until(condition: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _apply(service: SearchService, product: dict[str, Any]) -> None:
    await service.apply(
        ProductUpdated.model_validate(
            {
                "op": "upsert",
                "product_id": product["id"],
                "version": product["version"],
                "product": {**product, "price": Decimal(str(product["price"]))},
            }
        )
    )
    await service.index.es.indices.refresh(index=service.index.alias)


async def test_reindex_swaps_the_alias_while_searches_keep_answering(
    client,
    service: SearchService,
    producer,
    search_settings: Settings,
    fake_product_service,
    make_product: Callable[..., dict[str, Any]],
    handled_count: Callable[[], float],
) -> None:
    word = f"zq{uuid.uuid4().hex[:6]}"
    catalog = [make_product(f"{word} Item {n}", price=n + 0.99) for n in range(250)]
    catalog.append(make_product("Broken", price="not a price"))
    fake_product_service.products = catalog
    fake_product_service.later_pages.clear()  # the rebuild stops after its first page
    # In the live index only: it answers searches until the swap, then the catalog rules.
    sentinel = f"zq{uuid.uuid4().hex[:6]}"
    old_only = make_product(f"Sentinel {sentinel}")
    await _apply(service, old_only)
    es, alias = service.index.es, service.index.alias
    before = list((await es.indices.get_alias(name=alias)).body)

    rebuild = asyncio.create_task(client.post("/api/search/reindex", timeout=60))
    sentinel_seen = 0
    try:

        async def rebuilding() -> bool:
            return bool(await service.index.indices_of(service.index.rebuild_alias))

        await _until(rebuilding)
        # Another reindex while one runs is refused.
        assert (await client.post("/api/search/reindex")).status_code == 409
        # Events during the rebuild: a product the catalog read will not see, and a newer
        # version of one it will.
        late_id = uuid.uuid4().hex[:24]
        late = make_product(f"{word} Latecomer", id=late_id, price=Decimal("7.5"))
        updated = {**catalog[0], "name": f"{word} Renamed", "version": 2, "price": Decimal("0.99")}
        handled = handled_count()
        for product in (late, updated):
            await producer.publish(
                search_settings.topic_product_updated,
                new_event(
                    search_settings.topic_product_updated,
                    "product-service",
                    product["id"],
                    {
                        "op": "upsert",
                        "product_id": product["id"],
                        "version": product["version"],
                        "product": product,
                    },
                ),
            )

        async def both_handled() -> bool:
            return handled_count() >= handled + 2

        await _until(both_handled)
        assert not rebuild.done(), "rebuild finished while its pages were held"
        # Searches keep answering from the live index while the rebuild is held.
        reply = await client.get("/api/search", params={"q": sentinel})
        assert reply.status_code == 200
        sentinel_seen += reply.json()["total"]
        fake_product_service.later_pages.set()
        reply = await rebuild
    finally:
        fake_product_service.later_pages.set()
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert sentinel_seen > 0
    assert report["products_read"] == 251
    assert report["invalid_skipped"] == 1
    assert report["indexed"] + report["stale_skipped"] == 250
    assert report["passes"] == 1
    assert report["previous_indices"] == before
    assert list((await es.indices.get_alias(name=alias)).body) == [report["index"]]
    assert not await es.indices.exists(index=before[0])
    assert await service.index.indices_of(service.index.rebuild_alias) == []

    await es.indices.refresh(index=alias)
    found = (await client.get("/api/search", params={"q": word, "size": 100})).json()
    assert found["total"] == 251  # 250 from the catalog + the event-only latecomer
    assert late_id in {hit["id"] for hit in found["hits"]}
    renamed = (await client.get("/api/search", params={"q": f"{word} renamed"})).json()
    assert renamed["hits"][0]["id"] == catalog[0]["id"]
    assert renamed["hits"][0]["name"] == f"{word} Renamed"
    gone = (await client.get("/api/search", params={"q": sentinel})).json()
    assert gone["total"] == 0


async def test_reindex_with_product_service_down_leaves_the_index_untouched(
    client, service: SearchService, fake_product_service, make_product
) -> None:
    word = f"zq{uuid.uuid4().hex[:6]}"
    await _apply(service, make_product(f"Keeper {word}"))
    es, alias = service.index.es, service.index.alias
    before = list((await es.indices.get_alias(name=alias)).body)
    indices_before = {row["index"] for row in (await es.cat.indices(format="json")).body}
    fake_product_service.failures_left = 1000
    try:
        reply = await client.post("/api/search/reindex")
    finally:
        fake_product_service.failures_left = 0
    assert reply.status_code == 503
    assert reply.json()["detail"].startswith("Product service is unavailable")
    assert list((await es.indices.get_alias(name=alias)).body) == before
    indices_after = {row["index"] for row in (await es.cat.indices(format="json")).body}
    assert {i for i in indices_after - indices_before if i.startswith(alias)} == set()
    assert await service.index.indices_of(service.index.rebuild_alias) == []
    kept = (await client.get("/api/search", params={"q": f"keeper {word}"})).json()
    assert kept["total"] == 1
