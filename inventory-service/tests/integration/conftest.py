"""inventory-service against real PostgreSQL and the Kafka-protocol broker (local stack)."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from devstack.provisioning import create_topics
from inventory_service.config import Settings
from inventory_service.main import build_app


@pytest.fixture(scope="session")
def inventory_settings(local_postgres, local_kafka: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        database_url=local_postgres.create_database("inventory_it"),
        kafka_bootstrap_servers=local_kafka,
        # Own topics and group per run: runs never see each other's events.
        consumer_group=f"inventory-it-{suffix}",
        topic_order_placed=f"order-placed-{suffix}",
        topic_order_cancelled=f"order-cancelled-{suffix}",
        topic_order_status_changed=f"order-status-changed-{suffix}",
        topic_inventory_low=f"inventory-low-{suffix}",
        topic_product_updated=f"product-updated-{suffix}",
        reservation_sweep_interval_seconds=0.2,
    )


@pytest.fixture(scope="session")
async def inventory_app(inventory_settings: Settings) -> AsyncIterator[FastAPI]:
    s = inventory_settings
    await create_topics(
        s.kafka_bootstrap_servers,
        {
            s.topic_order_placed: 3,
            s.topic_order_cancelled: 3,
            s.topic_order_status_changed: 3,
            s.topic_inventory_low: 1,
            s.topic_product_updated: 3,
            f"{s.topic_product_updated}.dlq": 1,
            f"{s.topic_order_placed}.dlq": 1,
            f"{s.topic_order_cancelled}.dlq": 1,
            f"{s.topic_order_status_changed}.dlq": 1,
        },
    )
    app = build_app(s)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        yield manager.app  # type: ignore[misc]


@pytest.fixture
async def client(inventory_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=inventory_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inventory") as c:
        yield c


@pytest.fixture
def product_id() -> str:
    return f"prod-{uuid.uuid4().hex[:12]}"
