"""inventory-service away or slow: a clear 503/504, fast once the breaker is open, never a hang.
Each test runs its own order-service app against a dead port or a server that never answers."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from order_service.config import Settings
from order_service.main import build_app

from .conftest import order_body


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _orders(settings: Settings, inventory_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(
        settings.model_copy(
            update={
                "inventory_service_url": inventory_url,
                "inventory_timeout_seconds": 0.5,
                "inventory_retry_backoff_seconds": 0.01,
                "inventory_breaker_failure_threshold": 3,
                "inventory_breaker_reset_seconds": 30.0,
                "run_outbox_relay": False,
            }
        )
    )
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            yield client


async def test_inventory_down_is_503_then_fast_with_the_breaker_open(
    order_settings: Settings,
) -> None:
    async with _orders(order_settings, f"http://127.0.0.1:{_dead_port()}") as client:
        first = await client.post("/api/orders", json=order_body("prod-x"))
        assert first.status_code == 503
        assert first.json()["detail"].startswith("Inventory service is unavailable")
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            reply = await client.post("/api/orders", json=order_body("prod-x"))
            timings.append(time.perf_counter() - started)
            assert reply.status_code == 503
            assert "circuit breaker open" in reply.json()["detail"]
        assert max(timings) < 0.1
        metrics = (await client.get("/metrics")).text
        assert (
            'circuit_breaker_state{dependency="inventory-service",endpoint="",'
            'service="order-service"} 2.0'
        ) in metrics


async def test_inventory_slow_is_504_not_a_hang(order_settings: Settings) -> None:
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with _orders(order_settings, f"http://127.0.0.1:{port}") as client:
            started = time.perf_counter()
            reply = await client.post("/api/orders", json=order_body("prod-x"))
            elapsed = time.perf_counter() - started
        assert reply.status_code == 504
        assert "did not answer within 0.5 s" in reply.json()["detail"]
        assert elapsed < 3
    finally:
        server.close()
