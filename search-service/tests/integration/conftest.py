"""search-service against noida-db's Elasticsearch and Kafka listeners (local stack), with a
small real HTTP server standing in for product-service's list endpoint."""

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from elasticsearch import AsyncElasticsearch
from fastapi import FastAPI, Query, Response

from chassis.kafka import EVENTS_CONSUMED, EventProducer
from devstack.provisioning import create_topics
from search_service.config import Settings
from search_service.main import build_app
from search_service.service import SearchService


class FakeProductService:
    """GET /api/products?page=&page_size= over an in-memory catalog, on a free port, in its
    own thread (so sync tests and subprocesses can use it too)."""

    def __init__(self) -> None:
        self.products: list[dict[str, Any]] = []
        # Cleared by a test to hold every page after the first until it is set again, so a
        # rebuild is provably still running while the test acts (no timing guesses).
        self.later_pages = threading.Event()
        self.later_pages.set()
        self.failures_left = 0
        self.requests = 0
        app = FastAPI()

        @app.get("/api/products")
        def list_products(
            response: Response,
            page: int = Query(1, ge=1),
            page_size: int = Query(20, ge=1, le=100),
        ) -> dict[str, Any]:
            self.requests += 1
            if self.failures_left > 0:
                self.failures_left -= 1
                response.status_code = 503
                return {"detail": "Service temporarily unavailable"}
            # Runs in the server's thread pool, so waiting here holds only this request.
            if page > 1 and not self.later_pages.wait(timeout=30):
                response.status_code = 503
                return {"detail": "The test never released the held page."}
            start = (page - 1) * page_size
            return {
                "products": self.products[start : start + page_size],
                "total": len(self.products),
                "page": page,
                "page_size": page_size,
            }

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "fake product-service did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def catalog_product(name: str, **fields: Any) -> dict[str, Any]:
    """A product as product-service renders it (version 1 unless given)."""
    return {
        "id": fields.pop("id", uuid.uuid4().hex[:24]),
        "name": name,
        "description": fields.pop("description", ""),
        "price": fields.pop("price", 10.0),
        "category": fields.pop("category", "General"),
        "tags": fields.pop("tags", []),
        "stock_quantity": fields.pop("stock_quantity", 3),
        "image_url": None,
        "created_at": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
        "version": fields.pop("version", 1),
        **fields,
    }


@pytest.fixture(scope="session")
def make_product() -> Callable[..., dict[str, Any]]:
    return catalog_product


@pytest.fixture(scope="session")
def handled_count(search_settings: Settings) -> Callable[[], float]:
    return lambda: consumed_count(search_settings)


@pytest.fixture(scope="session")
def fake_product_service() -> Iterator[FakeProductService]:
    server = FakeProductService()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def run_suffix() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def search_settings(
    local_elasticsearch: str,
    local_kafka: str,
    fake_product_service: FakeProductService,
    run_suffix: str,
) -> Settings:
    return Settings(
        elasticsearch_url=local_elasticsearch,
        kafka_bootstrap_servers=local_kafka,
        # Own alias, topic and group per run: runs never see each other's documents or events.
        search_index_alias=f"search-it-{run_suffix}",
        topic_product_updated=f"product-updated-{run_suffix}",
        consumer_group=f"search-it-{run_suffix}",
        consumer_max_attempts=2,
        product_service_url=fake_product_service.url,
        # Longer than any wait on a held page (FakeProductService.later_pages).
        product_service_timeout_seconds=20,
        rebuild_check_interval_seconds=0.2,
        elasticsearch_timeout_seconds=5,
    )


async def drop_indices(es_url: str, prefix: str) -> None:
    es = AsyncElasticsearch(es_url, request_timeout=10)
    try:
        reply = await es.cat.indices(index=f"{prefix}*", format="json")
        for row in reply.body:
            await es.options(ignore_status=404).indices.delete(index=row["index"])
    finally:
        await es.close()


@pytest.fixture(scope="session")
def delete_indices() -> Callable[[str, str], Any]:
    """`await delete_indices(es_url, prefix)`: drops every index whose name starts so."""
    return drop_indices


@pytest.fixture(scope="session")
async def search_app(search_settings: Settings) -> AsyncIterator[FastAPI]:
    s = search_settings
    await create_topics(
        s.kafka_bootstrap_servers, {s.topic_product_updated: 3, f"{s.topic_product_updated}.dlq": 1}
    )
    app = build_app(s)
    try:
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            await asyncio.wait_for(app.state.consumer.ready.wait(), 30)
            yield app
    finally:
        await drop_indices(s.elasticsearch_url, s.search_index_alias)


@pytest.fixture
async def client(search_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=search_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://search") as c:
        yield c


@pytest.fixture
def service(search_app: FastAPI) -> SearchService:
    svc: SearchService = search_app.state.search
    return svc


@pytest.fixture
async def producer(search_settings: Settings) -> AsyncIterator[EventProducer]:
    p = EventProducer(search_settings.kafka_bootstrap_servers)
    await p.start()
    yield p
    await p.stop()


def consumed_count(settings: Settings) -> float:
    """Records the app's consumer has handled so far (the chassis metric)."""
    metric = EVENTS_CONSUMED.labels(settings.topic_product_updated, settings.consumer_group)
    return float(metric._value.get())
