"""ai-service against real Redis (db 15) and the Kafka-protocol broker from the local stack.
product-service is stood in for by an httpx transport serving its documented page format."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ai_service.config import Settings
from ai_service.main import build_app
from chassis.kafka import EventProducer
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics


@dataclass(frozen=True)
class Topics:
    placed: str
    product_updated: str
    ai_ready: str


def product_doc(
    pid: str,
    name: str,
    price: str,
    category: str,
    tags: list[str],
    description: str = "",
    version: int = 1,
) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "description": description,
        "price": float(price),
        "category": category,
        "tags": tags,
        "stock_quantity": 10,
        "image_url": None,
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:00Z",
        "version": version,
    }


CATALOG = [
    product_doc(
        "665f1c2e8b3e4a0012345601",
        "iPhone 15 Pro",
        "999.99",
        "Electronics",
        ["phone", "apple"],
        "Apple smartphone",
    ),
    product_doc(
        "665f1c2e8b3e4a0012345602",
        "Pixel 8",
        "599.00",
        "Electronics",
        ["phone", "android"],
        "Google smartphone",
    ),
    product_doc(
        "665f1c2e8b3e4a0012345603",
        "iPhone 15 Pro Case",
        "29.99",
        "Accessories",
        ["phone", "case", "apple"],
        "Protective case",
    ),
    product_doc(
        "665f1c2e8b3e4a0012345604",
        "Trail Runner",
        "89.50",
        "Sports",
        ["running", "shoes"],
        "Trail running shoes",
    ),
]


def product_service(documents: list[dict[str, Any]]) -> httpx.MockTransport:
    def serve(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/products"
        page, size = int(request.url.params["page"]), int(request.url.params["page_size"])
        chunk = documents[(page - 1) * size : page * size]
        return httpx.Response(
            200, json={"products": chunk, "total": len(documents), "page": page, "page_size": size}
        )

    return httpx.MockTransport(serve)


@pytest.fixture(scope="session")
def topics(local_kafka: str) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    names = Topics(
        f"order-placed-{suffix}", f"product-updated-{suffix}", f"ai-notification-ready-{suffix}"
    )
    partitions = {name: 3 for name in vars(names).values()}
    partitions.update({f"{name}.dlq": 1 for name in list(partitions)})
    run_sync(create_topics(local_kafka, partitions))
    return names


@pytest.fixture(scope="session")
def ai_settings(local_redis: str, local_kafka: str, topics: Topics) -> Settings:
    return Settings(
        redis_url=local_redis,
        redis_key_prefix=f"ai-it-{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=local_kafka,
        product_service_url="http://product-service.test",
        consumer_group=f"ai-it-{uuid.uuid4().hex[:8]}",
        topic_order_placed=topics.placed,
        topic_product_updated=topics.product_updated,
        topic_ai_notification_ready=topics.ai_ready,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def ai_fastapi(ai_settings: Settings) -> FastAPI:
    return build_app(ai_settings, products_transport=product_service(CATALOG))


@pytest.fixture(scope="session")
async def ai_app(ai_fastapi: FastAPI) -> AsyncIterator[FastAPI]:
    async with LifespanManager(ai_fastapi, startup_timeout=60, shutdown_timeout=30) as manager:
        await wait_for(lambda: _loaded(ai_fastapi))
        yield manager.app  # type: ignore[misc]


async def _loaded(app: FastAPI) -> bool:
    return bool(app.state.catalog.loaded)


@pytest.fixture
async def client(ai_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ai_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ai", timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
async def producer(local_kafka: str) -> AsyncIterator[EventProducer]:
    events = EventProducer(local_kafka)
    await events.start()
    yield events
    await events.stop()


def order_data(email: str, number: str) -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "order_number": number,
        "customer_name": "Yash Vyas",
        "customer_email": email,
        "total_amount": Decimal("999.99"),
        "items": [
            {
                "product_id": "665f1c2e8b3e4a0012345601",
                "product_name": "iPhone 15 Pro",
                "quantity": 1,
                "unit_price": Decimal("999.99"),
            }
        ],
    }


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
