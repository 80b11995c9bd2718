"""The inventory client's resilience without servers: retries, breaker, timeouts, error mapping."""

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from chassis import BadRequest, DependencyTimeout, DependencyUnavailable, NotFound
from order_service.clients.inventory import CIRCUIT, InventoryClient

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, *, threshold: int = 3, reset: float = 30.0) -> InventoryClient:
    return InventoryClient(
        "http://inventory",
        timeout_seconds=1.0,
        attempts=3,
        backoff_seconds=0.001,
        backoff_max_seconds=0.002,
        breaker_failure_threshold=threshold,
        breaker_reset_seconds=reset,
        max_connections=10,
        transport=httpx.MockTransport(handler),
    )


def _reservation(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"reservation_id": "x", "status": "HELD"})


def _breaker_gauge() -> float | None:
    return REGISTRY.get_sample_value("circuit_breaker_state", {"circuit": CIRCUIT})


async def test_connection_errors_are_retried_until_an_answer() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=request)
        return _reservation(request)

    client = _client(flaky, threshold=10)
    assert (await client.reserve(uuid.uuid4(), [("p", 1)], 60))["status"] == "HELD"
    assert calls == 3
    await client.close()


async def test_insufficient_stock_keeps_inventorys_sentence_and_never_trips_the_breaker() -> None:
    def short(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"detail": "Insufficient stock for product: Phone"})

    client = _client(short, threshold=2)
    for _ in range(5):
        with pytest.raises(BadRequest, match="Insufficient stock for product: Phone"):
            await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert await client.breaker_state() == "closed"
    await client.close()


async def test_unknown_product_is_404_and_unknown_release_is_nothing_to_do() -> None:
    def missing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Inventory not found for product: p"})

    client = _client(missing)
    with pytest.raises(NotFound, match="Inventory not found"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert await client.release(uuid.uuid4()) is None
    await client.close()


async def test_breaker_opens_answers_fast_then_recovers_after_the_reset_time() -> None:
    healthy = False
    calls = 0

    def switchable(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not healthy:
            return httpx.Response(503, json={"detail": "down"})
        return _reservation(request)

    client = _client(switchable, threshold=3, reset=0.3)
    with pytest.raises(DependencyUnavailable, match="Inventory service is unavailable"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert await client.breaker_state() == "opened"
    assert _breaker_gauge() == 2
    before = calls
    started = time.perf_counter()
    with pytest.raises(DependencyUnavailable, match="circuit breaker open"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert time.perf_counter() - started < 0.05
    assert calls == before  # refused without touching inventory

    healthy = True
    await asyncio.sleep(0.35)
    assert (await client.reserve(uuid.uuid4(), [("p", 1)], 60))["status"] == "HELD"
    assert await client.breaker_state() == "closed"
    assert _breaker_gauge() == 0
    await client.close()


async def test_slow_inventory_is_a_504_not_a_hang() -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = InventoryClient(
        f"http://127.0.0.1:{port}",
        timeout_seconds=0.3,
        attempts=3,
        backoff_seconds=0.001,
        backoff_max_seconds=0.002,
        breaker_failure_threshold=10,
        breaker_reset_seconds=30,
        max_connections=10,
    )
    started = time.perf_counter()
    with pytest.raises(DependencyTimeout, match=r"did not answer within 0\.3 s"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert time.perf_counter() - started < 1.0  # a read timeout is not retried
    await client.close()
    server.close()
