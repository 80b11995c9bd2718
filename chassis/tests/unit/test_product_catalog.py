"""The one catalog reader (search-service's reindex, ai-service's catalog load): reads
retried when product-service stumbles, refused with a clear 503 sentence when it stays away
or answers nonsense. Its breaker: ai-service/tests/unit/test_catalog_loader.py."""

import httpx
import pytest

from chassis.product_catalog import CatalogUnavailable, ProductCatalogReader


def _client(handler, attempts: int = 3) -> ProductCatalogReader:  # type: ignore[no-untyped-def]
    return ProductCatalogReader(
        "http://products",
        timeout_seconds=1,
        attempts=attempts,
        backoff_initial=0.001,
        backoff_max=0.002,
        transport=httpx.MockTransport(handler),
    )


async def test_page_is_read_with_page_and_page_size() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(
            200, json={"products": [{"id": "x"}], "total": 1, "page": 2, "page_size": 50}
        )

    client = _client(handler)
    page = await client.list_page(2, 50)
    await client.aclose()
    assert page.total == 1
    assert page.products == [{"id": "x"}]
    assert seen[0].path == "/api/products"
    assert dict(seen[0].params) == {"page": "2", "page_size": "50"}


async def test_server_errors_and_timeouts_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if calls == 2:
            return httpx.Response(503)
        return httpx.Response(200, json={"products": [], "total": 0})

    client = _client(handler)
    page = await client.list_page(1, 100)
    await client.aclose()
    assert calls == 3
    assert page.total == 0


async def test_gives_up_after_bounded_attempts_with_a_sentence() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(handler, attempts=3)
    with pytest.raises(CatalogUnavailable, match="Product service is unavailable"):
        await client.list_page(1, 100)
    await client.aclose()
    assert calls == 3


async def test_client_error_is_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(404, json={"detail": "Not Found"})

    client = _client(handler)
    with pytest.raises(CatalogUnavailable, match="HTTP 404"):
        await client.list_page(1, 100)
    await client.aclose()
    assert calls == 1


async def test_unreadable_page_is_refused() -> None:
    client = _client(lambda request: httpx.Response(200, json={"items": []}))
    with pytest.raises(CatalogUnavailable, match="unreadable catalog page"):
        await client.list_page(1, 100)
    await client.aclose()


async def test_an_open_breaker_refuses_at_once_and_retries_stop() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502)

    client = ProductCatalogReader(
        "http://products",
        timeout_seconds=1,
        attempts=4,
        backoff_initial=0.001,
        backoff_max=0.002,
        breaker_failure_threshold=2,
        breaker_reset_seconds=60,
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(CatalogUnavailable, match="circuit breaker is open"):
        await client.list_page(1, 100)
    assert calls == 2  # the third attempt met the open breaker, not product-service
    with pytest.raises(CatalogUnavailable, match="circuit breaker is open"):
        await client.list_page(1, 100)
    assert calls == 2
    await client.aclose()


async def test_fetch_all_reads_pages_until_the_total() -> None:
    products = [{"id": str(n)} for n in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["page_size"])
        return httpx.Response(
            200,
            json={"products": products[(page - 1) * size : page * size], "total": len(products)},
        )

    client = _client(handler)
    assert await client.fetch_all(2) == products
    await client.aclose()
