"""Property-based fuzzing of the gateway's own endpoints from its OpenAPI document, against
the gateway running as a real process (devstack.start_service): never a 5xx."""

import socket
from collections.abc import Iterator

import httpx
import pytest

from devstack import start_service
from devstack.fuzzing import no_server_error_fuzz


@pytest.fixture(scope="module")
def running_gateway(local_redis: str, upstream_url: str) -> Iterator[str]:
    env = {
        "REDIS_URL": local_redis,
        "RATE_LIMIT_DEFAULT": "100000/minute",
        "LOG_LEVEL": "WARNING",
        **{
            f"{name}_SERVICE_URL": upstream_url
            for name in ("PRODUCT", "ORDER", "INVENTORY", "AI", "SEARCH", "NOTIFICATION")
        },
    }
    with start_service("api-gateway", env=env, profile="test") as base_url:
        yield base_url


openapi_schema, test_no_input_makes_the_gateway_answer_5xx = no_server_error_fuzz(
    "running_gateway", max_examples=30
)


def test_every_documented_operation_answers_below_500(running_gateway: str) -> None:
    # The same property without the fuzzer, so it cannot pass vacuously.
    schema = httpx.get(f"{running_gateway}/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    ]
    assert ("GET", "/health") in operations
    for method, path in operations:
        for query in ("", "?x=%00%ff", "?" + "a=" * 500):
            reply = httpx.request(method, f"{running_gateway}{path}{query}", timeout=10)
            assert reply.status_code < 500, (method, path, query, reply.text)


def test_the_running_gateway_proxies_to_its_upstream(running_gateway: str) -> None:
    reply = httpx.get(f"{running_gateway}/api/products/p-1?q=1", timeout=10)
    assert reply.status_code == 200
    assert reply.json()["path"] == "/api/products/p-1"


@pytest.mark.parametrize("path", ["/api/products/../orders/x", "/api/orders/./x"])
def test_dot_segments_are_refused_before_any_rule_or_upstream(
    running_gateway: str, path: str
) -> None:
    # Sent on a raw socket: HTTP clients would resolve the dot segments themselves.
    host, port = running_gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
