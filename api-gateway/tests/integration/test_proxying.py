"""The gateway in front of a real upstream (uvicorn on a socket): what passes, what is set,
what is refused, and what an absent or slow upstream looks like."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from .conftest import GatewayFactory, ThreadedServer, free_port
from .upstream_app import app as upstream_app


async def test_method_path_query_body_status_and_headers_pass_through(
    gateway: GatewayFactory,
) -> None:
    async with gateway() as client:
        reply = await client.put(
            "/api/products/p-1?status=202&x=a%20b&x=2",
            content=b'{"name": "lamp"}',
            headers={"content-type": "application/json", "x-custom": "kept"},
        )
    assert reply.status_code == 202
    echo = reply.json()
    assert echo["method"] == "PUT"
    assert echo["path"] == "/api/products/p-1"
    assert echo["query"] == "status=202&x=a%20b&x=2"
    assert echo["body_head"] == '{"name": "lamp"}'
    sent = dict(echo["headers"])
    assert sent["x-custom"] == "kept"
    assert sent["content-type"] == "application/json"
    assert reply.headers["x-upstream"] == "echo"
    assert reply.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_request_id_traceparent_and_forwarded_headers_are_set(
    gateway: GatewayFactory,
) -> None:
    async with gateway() as client:
        reply = await client.get("/api/inventory/p-1", headers={"x-request-id": "req-42"})
        fresh = await client.get("/api/inventory/p-1")
    sent = dict(reply.json()["headers"])
    assert sent["x-request-id"] == "req-42"
    assert reply.headers["x-request-id"] == "req-42"
    assert sent["traceparent"].startswith("00-")
    assert sent["x-forwarded-for"] == "203.0.113.7"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-host"] == "gateway.test"
    made = dict(fresh.json()["headers"])["x-request-id"]
    assert made
    assert made == fresh.headers["x-request-id"]


async def test_client_sent_identity_headers_never_reach_upstream(
    gateway: GatewayFactory,
) -> None:
    async with gateway() as client:
        reply = await client.get(
            "/api/search",
            headers={"X-User-Id": "admin", "X-User-Roles": "admin", "Connection": "keep-alive"},
        )
    names = {name.lower() for name, _ in reply.json()["headers"]}
    assert not {"x-user-id", "x-user-roles"} & names


async def test_responses_stream_through(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        reply = await client.get("/api/products/stream")
    assert reply.text == "chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"


async def test_a_chunked_request_body_is_streamed_upstream(gateway: GatewayFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 10_000

    async with gateway() as client:
        reply = await client.post("/api/notifications/upload", content=body())
    assert reply.json()["body_size"] == 100_000


async def test_an_oversized_body_is_refused_with_413(gateway: GatewayFactory) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async with gateway(max_request_body_bytes=5000) as client:
        declared = await client.post("/api/products", content=b"x" * 6000)
        chunked = await client.post("/api/products", content=body())
    assert declared.status_code == 413
    assert chunked.status_code == 413


async def test_an_unknown_prefix_is_404(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        reply = await client.get("/api/unknown/thing")
    assert reply.status_code == 404
    assert reply.json() == {"detail": "No route for /api/unknown/thing."}


async def test_an_upstream_that_is_down_answers_503(gateway: GatewayFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(product_service_url=dead) as client:
        reply = await client.get("/api/products")
    assert reply.status_code == 503
    assert reply.json() == {"detail": "product-service is unavailable"}


async def test_the_service_is_told_how_long_the_gateway_waits_never_the_clients_longer_wish(
    gateway: GatewayFactory,
) -> None:
    """X-Request-Timeout-Ms (chassis.deadlines): the service's retries stop before the gateway
    gives up on it. A client may ask for less time, never for more."""
    async with gateway(upstream_timeout_seconds=2.0, ai_upstream_timeout_seconds=7) as client:
        plain = await client.get("/api/products/p-1")
        greedy = await client.get("/api/products/p-1", headers={"X-Request-Timeout-Ms": "90000"})
        hurried = await client.get("/api/products/p-1", headers={"X-Request-Timeout-Ms": "500"})
        ai = await client.get("/api/ai/p-1")

    def budget(reply: httpx.Response) -> int:
        values = [v for k, v in reply.json()["headers"] if k == "x-request-timeout-ms"]
        assert len(values) == 1
        return int(values[0])

    assert 1900 <= budget(plain) <= 2000
    assert 1900 <= budget(greedy) <= 2000
    assert 400 <= budget(hurried) <= 500
    assert 6900 <= budget(ai) <= 7000


async def test_a_slow_upstream_answers_504(gateway: GatewayFactory) -> None:
    async with gateway(upstream_timeout_seconds=0.3) as client:
        reply = await client.get("/api/products/slow?seconds=2")
    assert reply.status_code == 504
    assert reply.json() == {"detail": "product-service did not answer in time"}


async def test_ai_gets_its_own_longer_timeout(gateway: GatewayFactory) -> None:
    async with gateway(upstream_timeout_seconds=0.2, ai_upstream_timeout_seconds=3) as client:
        reply = await client.get("/api/ai/slow?seconds=0.5")
    assert reply.status_code == 200


async def test_the_breaker_opens_after_repeated_failures_and_shows_in_metrics(
    gateway: GatewayFactory,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(
        search_service_url=dead, breaker_failure_threshold=3, breaker_reset_seconds=30
    ) as client:
        for _ in range(3):
            assert (await client.get("/api/search?q=x")).status_code == 503
        rejected_before = (
            REGISTRY.get_sample_value(
                "gateway_circuit_breaker_rejected_total", {"upstream": "search-service"}
            )
            or 0
        )
        reply = await client.get("/api/search?q=x")
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "30"
        metrics = (await client.get("/metrics")).text
    assert (
        REGISTRY.get_sample_value(
            "gateway_circuit_breaker_rejected_total", {"upstream": "search-service"}
        )
        == rejected_before + 1
    )
    assert (
        f'circuit_breaker_state{{dependency="search-service",endpoint="{dead}",'
        f'service="api-gateway"}} 2.0'
    ) in metrics


async def test_one_upstream_down_leaves_the_others_served(gateway: GatewayFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(order_service_url=dead) as client:
        assert (await client.get("/api/orders")).status_code == 503
        assert (await client.get("/api/products")).status_code == 200


async def test_no_5xx_carries_a_stack_trace(gateway: GatewayFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(product_service_url=dead) as client:
        reply = await client.post("/api/products", json={"a": 1})
    assert reply.status_code == 503
    assert "Traceback" not in reply.text


async def test_the_client_proxies_bodies_streams_outages_and_timeouts(
    gateway: GatewayFactory,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(upstream_timeout_seconds=0.3, order_service_url=dead) as client:
        echoed = await client.post(
            "/api/products/p?status=201", content=b"abc", headers={"content-type": "text/plain"}
        )
        streamed = await client.get("/api/products/stream")
        down = await client.get("/api/orders")
        slow = await client.get("/api/products/slow?seconds=2")
    assert echoed.status_code == 201
    assert echoed.json()["body_head"] == "abc"
    assert echoed.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert streamed.text == "chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;"
    assert (down.status_code, slow.status_code) == (503, 504)


async def test_an_encoded_path_reaches_upstream_as_encoded(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        reply = await client.get("/api/products/a%2Fb%20c")
    assert reply.status_code == 200
    assert reply.json()["path"] == "/api/products/a/b c"  # the upstream's decoded view
    assert reply.json()["raw_path"] == "/api/products/a%2Fb%20c"


@pytest.fixture(scope="module")
def second_upstream_url() -> Iterator[str]:
    with ThreadedServer(upstream_app, free_port()) as url:
        yield url


async def test_requests_are_balanced_across_an_upstreams_instances(
    gateway: GatewayFactory, upstream_url: str, second_upstream_url: str
) -> None:
    async with gateway(order_service_url=f"{upstream_url}, {second_upstream_url}/") as client:
        ports = [(await client.get(f"/api/orders?n={n}")).json()["server_port"] for n in range(10)]
    assert sorted(set(ports)) == sorted(
        int(u.rsplit(":", 1)[1]) for u in (upstream_url, second_upstream_url)
    )
    assert ports.count(ports[0]) == 5  # round-robin: every other request


async def test_a_dead_instance_is_skipped_and_only_its_own_breaker_opens(
    gateway: GatewayFactory, upstream_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with gateway(
        inventory_service_url=f"{dead},{upstream_url}",
        breaker_failure_threshold=2,
        breaker_reset_seconds=30,
    ) as client:
        # Until its breaker opens, the dead instance gets its turn: it refuses the connection,
        # nothing was sent, and the request (no body) goes on to the live one.
        replies = [await client.get("/api/inventory/p-1") for _ in range(8)]
        metrics = (await client.get("/metrics")).text
    assert [r.status_code for r in replies] == [200] * 8
    assert (
        f'circuit_breaker_state{{dependency="inventory-service",endpoint="{dead}",'
        f'service="api-gateway"}} 2.0'
    ) in metrics
    assert (
        f'circuit_breaker_state{{dependency="inventory-service",endpoint="{upstream_url}",'
        f'service="api-gateway"}} 0.0'
    ) in metrics


async def test_every_instance_down_answers_503_with_retry_after(gateway: GatewayFactory) -> None:
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    async with gateway(
        search_service_url=",".join(dead), breaker_failure_threshold=1, breaker_reset_seconds=7
    ) as client:
        first = await client.get("/api/search?q=x")
        second = await client.get("/api/search?q=x")
    assert first.status_code == 503
    assert first.json() == {"detail": "search-service is unavailable"}
    assert second.status_code == 503
    assert second.headers["retry-after"] == "7"


@pytest.fixture(scope="module")
def fastapi_upstream() -> Iterator[str]:
    """A real FastAPI app, as every service is: it answers a trailing slash with FastAPI's own
    307, whose Location names the service's address."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/search/things")
    async def things() -> list[int]:
        return [1, 2]

    with ThreadedServer(app, free_port()) as url:
        yield url


async def test_a_trailing_slash_redirect_never_leaks_the_upstream_address(
    gateway: GatewayFactory,
    fastapi_upstream: str,
) -> None:
    async with httpx.AsyncClient() as plain:
        direct = await plain.get(f"{fastapi_upstream}/api/search/things/?q=1")
    assert direct.status_code == 307
    assert direct.headers["location"].startswith(fastapi_upstream)  # what would leak
    async with gateway(search_service_url=fastapi_upstream) as client:
        reply = await client.get("/api/search/things/?q=1", follow_redirects=False)
        assert reply.status_code == 307
        assert reply.headers["location"] == "/api/search/things?q=1"
        host_port = fastapi_upstream.removeprefix("http://")
        assert all(host_port not in value for _, value in reply.headers.items())
        followed = await client.get("/api/search/things/?q=1", follow_redirects=True)
    assert followed.json() == [1, 2]
    assert str(followed.url) == "http://gateway.test/api/search/things?q=1"
