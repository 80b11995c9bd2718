"""Real servers for the gateway: an upstream app under uvicorn (a real socket), the local
OIDC provider (devstack component `oidc`), Redis (db 15)."""

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager

from api_gateway.config import Settings
from api_gateway.main import build_app

from .upstream_app import app as upstream_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThreadedServer:
    """uvicorn in a thread of the test process, on its own event loop."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("upstream did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def upstream_url() -> Iterator[str]:
    with ThreadedServer(upstream_app, free_port()) as url:
        yield url


def all_upstreams(url: str) -> dict[str, str]:
    return {
        f"{name}_service_url": url
        for name in ("product", "order", "inventory", "ai", "search", "notification")
    }


GatewayFactory = Callable[..., Any]


@pytest.fixture
def gateway(upstream_url: str, local_redis: str) -> GatewayFactory:
    """`async with gateway(**settings) as client:` a gateway app (lifespan run) in front of
    the echo upstream; each call gets its own rate-limit key prefix unless one is given."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        values: dict[str, Any] = {
            **all_upstreams(upstream_url),
            "redis_url": local_redis,
            "rate_limit_key_prefix": f"gw-test-{uuid.uuid4().hex[:8]}",
            "upstream_timeout_seconds": 2.0,
            "log_level": "WARNING",
            **overrides,
        }
        app = build_app(Settings(**values))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.7", 5555))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://gateway.test", timeout=10
            ) as client:
                yield client

    return make


def password_token(issuer: str, username: str) -> str:
    reply = httpx.post(
        f"{issuer}/protocol/openid-connect/token",
        timeout=10,
        data={
            "grant_type": "password",
            "client_id": "ecommerce-app",
            "username": username,
            "password": username,
        },
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture(scope="session")
def admin_token(local_oidc: str) -> str:
    return password_token(local_oidc, "admin")


@pytest.fixture(scope="session")
def customer_token(local_oidc: str) -> str:
    return password_token(local_oidc, "customer")
