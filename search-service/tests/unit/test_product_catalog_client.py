"""The reindex's reads from product-service: retried when the service stumbles, refused with
a clear 503 sentence when it stays away or answers nonsense."""

import httpx
import pytest

from search_service.clients.product_catalog import (
    ProductCatalogClient,
    ProductServiceUnavailable,
)


def _client(handler, attempts: int = 3) -> ProductCatalogClient:  # type: ignore[no-untyped-def]
    return ProductCatalogClient(
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
        return httpx.Response(200, json={"products": [{"id": "x"}], "total": 1, "page": 2,
                                         "page_size": 50})

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
    with pytest.raises(ProductServiceUnavailable, match="Product service is unavailable"):
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
    with pytest.raises(ProductServiceUnavailable, match="HTTP 404"):
        await client.list_page(1, 100)
    await client.aclose()
    assert calls == 1


async def test_unreadable_page_is_refused() -> None:
    client = _client(lambda request: httpx.Response(200, json={"items": []}))
    with pytest.raises(ProductServiceUnavailable, match="unreadable catalog page"):
        await client.list_page(1, 100)
    await client.aclose()
