"""Elasticsearch down or hanging: every search endpoint answers 503 with a sentence, quickly,
and /ready names Elasticsearch."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from search_service.config import Settings
from search_service.main import build_app

REQUESTS = [
    ("GET", "/api/search", {"q": "lamp"}),
    ("GET", "/api/search/autocomplete", {"q": "l"}),
    ("GET", "/api/search/filter", {"category": "Office", "minPrice": "1"}),
    ("POST", "/api/search/reindex", {}),
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _client_for(url: str, fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        elasticsearch_url=url,
        elasticsearch_timeout_seconds=0.5,
        run_event_consumer=False,
        product_service_url=fake_url,
        search_index_alias="search-down-never-created",
    )
    app = build_app(settings)
    async with LifespanManager(app, startup_timeout=30):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://search") as client:
            yield client


@pytest.fixture
async def down_client(fake_product_service) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client_for(f"http://127.0.0.1:{_closed_port()}", fake_product_service.url):
        yield client


@pytest.fixture
async def hanging_client(fake_product_service) -> AsyncIterator[httpx.AsyncClient]:
    """An 'Elasticsearch' that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async for client in _client_for(f"http://127.0.0.1:{port}", fake_product_service.url):
            yield client
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("method", "path", "params"), REQUESTS)
async def test_elasticsearch_down_is_a_503_with_a_sentence(
    down_client: httpx.AsyncClient, method: str, path: str, params: dict[str, str]
) -> None:
    reply = await down_client.request(method, path, params=params)
    assert reply.status_code == 503
    assert reply.json()["detail"].startswith("Search is temporarily unavailable")


async def test_ready_reports_elasticsearch_down(down_client: httpx.AsyncClient) -> None:
    reply = await down_client.get("/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"]["elasticsearch"]["status"] == "DOWN"
    assert (await down_client.get("/health")).status_code == 200


@pytest.mark.parametrize(("method", "path", "params"), REQUESTS[:3])
async def test_hanging_elasticsearch_times_out_into_a_503(
    hanging_client: httpx.AsyncClient, method: str, path: str, params: dict[str, str]
) -> None:
    started = time.monotonic()
    reply = await hanging_client.request(method, path, params=params)
    assert reply.status_code == 503
    assert reply.json()["detail"].startswith("Search is temporarily unavailable")
    assert time.monotonic() - started < 5
