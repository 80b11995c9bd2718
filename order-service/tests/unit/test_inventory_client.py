"""The inventory client's resilience against a scripted local HTTP server (aiohttp, on a free
port in this process): retries, breaker, timeouts, error mapping."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from chassis import BadRequest, DependencyTimeout, DependencyUnavailable, NotFound, deadlines
from chassis.resilience import CallPolicy, RetryPolicy
from order_service.clients.inventory import CIRCUIT, SERVICE, InventoryClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ClientFactory = Callable[..., Awaitable[InventoryClient]]


def _policy(*, timeout: float, threshold: int, reset: float) -> CallPolicy:
    return CallPolicy(
        timeout_seconds=timeout,
        retry=RetryPolicy(3, 0.001, 0.002),
        breaker_failure_threshold=threshold,
        breaker_reset_seconds=reset,
    )


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    servers: list[TestServer] = []

    async def make(handler: Handler, *, threshold: int = 3, reset: float = 30.0) -> InventoryClient:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return InventoryClient(
            str(server.make_url("")),
            policy=_policy(timeout=1.0, threshold=threshold, reset=reset),
            max_connections=10,
        )

    yield make
    for server in servers:
        await server.close()


def _reservation() -> web.Response:
    return web.json_response({"reservation_id": "x", "status": "HELD"}, status=201)


def _breaker_gauge() -> float | None:
    return REGISTRY.get_sample_value(
        "circuit_breaker_state", {"service": SERVICE, "dependency": CIRCUIT, "endpoint": ""}
    )


async def test_connection_errors_are_retried_until_an_answer(client_for: ClientFactory) -> None:
    calls = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls < 3:
            assert request.transport is not None
            request.transport.close()  # the connection drops before any reply
            return web.Response()
        return _reservation()

    client = await client_for(flaky, threshold=10)
    assert (await client.reserve(uuid.uuid4(), [("p", 1)], 60))["status"] == "HELD"
    assert calls == 3
    await client.close()


async def test_insufficient_stock_keeps_inventorys_sentence_and_never_trips_the_breaker(
    client_for: ClientFactory,
) -> None:
    async def short(request: web.Request) -> web.StreamResponse:
        return web.json_response({"detail": "Insufficient stock for product: Phone"}, status=400)

    client = await client_for(short, threshold=2)
    for _ in range(5):
        with pytest.raises(BadRequest, match="Insufficient stock for product: Phone"):
            await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert await client.breaker_state() == "closed"
    await client.close()


async def test_unknown_product_is_404_and_unknown_release_is_nothing_to_do(
    client_for: ClientFactory,
) -> None:
    async def missing(request: web.Request) -> web.StreamResponse:
        return web.json_response({"detail": "Inventory not found for product: p"}, status=404)

    client = await client_for(missing)
    with pytest.raises(NotFound, match="Inventory not found"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert await client.release(uuid.uuid4()) is None
    await client.close()


async def test_breaker_opens_answers_fast_then_recovers_after_the_reset_time(
    client_for: ClientFactory,
) -> None:
    healthy = False
    calls = 0

    async def switchable(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if not healthy:
            return web.json_response({"detail": "down"}, status=503)
        return _reservation()

    client = await client_for(switchable, threshold=3, reset=0.3)
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
        policy=_policy(timeout=0.3, threshold=10, reset=30),
        max_connections=10,
    )
    started = time.perf_counter()
    with pytest.raises(DependencyTimeout, match=r"did not answer within 0\.3 s"):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert time.perf_counter() - started < 1.0  # a read timeout is not retried
    await client.close()
    server.close()


async def test_the_call_ends_with_the_requests_time_and_passes_what_is_left_on(
    client_for: ClientFactory,
) -> None:
    """The gateway's budget (X-Request-Timeout-Ms) bounds the call although the client's own
    timeout is longer; inventory is told what is left."""
    budgets: list[str] = []

    async def slow(request: web.Request) -> web.StreamResponse:
        budgets.append(request.headers.get(deadlines.DEADLINE_HEADER, ""))
        await asyncio.sleep(5)
        return _reservation()

    client = await client_for(slow)  # timeout_seconds=1.0 per attempt
    started = time.perf_counter()
    with (
        deadlines.deadline_in(0.3),
        pytest.raises(DependencyTimeout, match="before this request's time ran out"),
    ):
        await client.reserve(uuid.uuid4(), [("p", 1)], 60)
    assert time.perf_counter() - started < 0.8
    assert len(budgets) == 1
    assert 200 <= int(budgets[0]) <= 300
    await client.close()
