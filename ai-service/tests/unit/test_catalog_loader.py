import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from ai_service.catalog import CatalogIndex
from ai_service.clients.products import CatalogLoader, CatalogUnavailable, catalog_reader

_PRODUCT_BREAKER = {"service": "ai-service", "dependency": "product-service", "endpoint": ""}


def _doc(n: int) -> dict[str, Any]:
    return {
        "id": f"p{n}",
        "name": f"Thing {n}",
        "description": "",
        "price": 10.5 + n,
        "category": "Misc",
        "tags": [],
        "stock_quantity": 1,
        "image_url": None,
        "version": 1,
    }


async def test_loader_pages_through_the_catalog_and_retries_until_it_answers() -> None:
    calls: list[str] = []
    docs = [_doc(n) for n in range(5)]
    docs.insert(2, {**_doc(99), "price": 1e40, "stock_quantity": "lots"})  # skipped, not fatal

    def serve(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) <= 2:
            return httpx.Response(503)  # product-service still starting
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        chunk = docs[(page - 1) * size : page * size]
        return httpx.Response(
            200, json={"products": chunk, "total": len(docs), "page": page, "page_size": size}
        )

    client = catalog_reader(
        "http://products", timeout_seconds=1, transport=httpx.MockTransport(serve)
    )
    catalog = CatalogIndex()
    loader = CatalogLoader(client, catalog, page_size=2, backoff_max_seconds=0.05)
    await asyncio.wait_for(loader.run(), 10)
    assert catalog.loaded
    assert len(catalog) == 5
    assert loader.attempts == 3
    assert [c.split("?")[1] for c in calls[2:]] == [
        "page=1&page_size=2",
        "page=2&page_size=2",
        "page=3&page_size=2",
    ]
    assert catalog.get("p99") is None
    await client.aclose()


async def test_loader_can_be_stopped_while_product_service_is_away() -> None:
    client = catalog_reader(
        "http://products",
        timeout_seconds=1,
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"nope": 1})),
    )
    loader = CatalogLoader(client, CatalogIndex(), page_size=100, backoff_max_seconds=0.05)
    loader.start()
    await asyncio.sleep(0.2)
    await loader.stop()
    assert loader.attempts >= 2
    await client.aclose()


async def test_breaker_stops_calling_a_failing_product_service_until_its_reset() -> None:
    calls = 0
    healthy = False

    def serve(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not healthy:
            return httpx.Response(503)
        return httpx.Response(
            200, json={"products": [_doc(1)], "total": 1, "page": 1, "page_size": 100}
        )

    client = catalog_reader(
        "http://products",
        timeout_seconds=1,
        breaker_failure_threshold=2,
        breaker_reset_seconds=0.3,
        transport=httpx.MockTransport(serve),
    )
    for _ in range(2):
        with pytest.raises(CatalogUnavailable, match="HTTPStatusError"):
            await client.fetch_all(100)
    with pytest.raises(CatalogUnavailable, match="circuit breaker is open"):
        await client.fetch_all(100)
    assert calls == 2  # the open breaker answered without calling product-service
    assert REGISTRY.get_sample_value("circuit_breaker_state", _PRODUCT_BREAKER) == 2
    healthy = True
    await asyncio.sleep(0.35)
    assert len(await client.fetch_all(100)) == 1  # half-open trial call succeeds and closes it
    assert REGISTRY.get_sample_value("circuit_breaker_state", _PRODUCT_BREAKER) == 0
    await client.aclose()
