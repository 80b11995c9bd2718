"""order-service against real PostgreSQL, the Kafka-protocol broker and a RUNNING
inventory-service (uvicorn subprocess on its own fresh database), all from the local stack."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from devstack import start_service
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics
from order_service.config import Settings
from order_service.main import build_app
from order_service.service import OrderService


@dataclass(frozen=True)
class Topics:
    placed: str
    cancelled: str
    status_changed: str


@pytest.fixture(scope="session")
def topics(local_kafka: str) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    # Own topics per run: runs never see each other's events.
    names = Topics(
        placed=f"order-placed-{suffix}",
        cancelled=f"order-cancelled-{suffix}",
        status_changed=f"order-status-changed-{suffix}",
    )
    partitions = {names.placed: 3, names.cancelled: 3, names.status_changed: 3}
    partitions.update({f"{name}.dlq": 1 for name in list(partitions)})
    run_sync(create_topics(local_kafka, partitions))
    return names


@pytest.fixture(scope="session")
def inventory_url(local_postgres, local_kafka: str, topics: Topics) -> Iterator[str]:
    env = {
        "DATABASE_URL": local_postgres.create_database("order_it_inventory"),
        "KAFKA_BOOTSTRAP_SERVERS": local_kafka,
        "CONSUMER_GROUP": f"inventory-for-order-it-{uuid.uuid4().hex[:8]}",
        "TOPIC_ORDER_PLACED": topics.placed,
        "TOPIC_ORDER_CANCELLED": topics.cancelled,
        "TOPIC_ORDER_STATUS_CHANGED": topics.status_changed,
        "RESERVATION_SWEEP_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    with start_service("inventory-service", env=env, profile="test") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def order_settings(
    local_postgres, local_kafka: str, topics: Topics, inventory_url: str
) -> Settings:
    return Settings(
        database_url=local_postgres.create_database("order_it"),
        kafka_bootstrap_servers=local_kafka,
        inventory_service_url=inventory_url,
        topic_order_placed=topics.placed,
        topic_order_cancelled=topics.cancelled,
        topic_order_status_changed=topics.status_changed,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def order_fastapi(order_settings: Settings) -> FastAPI:
    return build_app(order_settings)


@pytest.fixture(scope="session")
async def order_app(order_fastapi: FastAPI) -> AsyncIterator[FastAPI]:
    async with LifespanManager(order_fastapi, startup_timeout=60, shutdown_timeout=30) as manager:
        yield manager.app  # type: ignore[misc]


@pytest.fixture
def order_service(order_app: FastAPI, order_fastapi: FastAPI) -> OrderService:
    """The running app's service layer, for tests that break one saga step on purpose."""
    service: OrderService = order_fastapi.state.orders
    return service


@pytest.fixture
async def client(order_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=order_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders", timeout=30) as c:
        yield c


@pytest.fixture
async def inventory(inventory_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=inventory_url, timeout=30) as c:
        yield c


StockFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def stock(inventory: httpx.AsyncClient) -> StockFactory:
    """Creates a product with `quantity` units at inventory-service; returns its id."""

    async def create(quantity: int, name: str = "iPhone 15 Pro") -> str:
        product_id = f"prod-{uuid.uuid4().hex[:12]}"
        reply = await inventory.post(
            "/api/inventory",
            json={"product_id": product_id, "product_name": name, "quantity": quantity},
        )
        assert reply.status_code == 201, reply.text
        return product_id

    return create


def order_body(
    product_id: str,
    quantity: int = 2,
    unit_price: float | str = 999.99,
    email: str | None = None,
    name: str = "iPhone 15 Pro",
) -> dict[str, object]:
    return {
        "customer_name": "Yash Vyas",
        "customer_email": email or f"buyer-{uuid.uuid4().hex[:8]}@example.com",
        "items": [
            {
                "product_id": product_id,
                "product_name": name,
                "quantity": quantity,
                "unit_price": unit_price,
            }
        ],
    }


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
