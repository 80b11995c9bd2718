"""notification-service against real Redis (db 15), the Kafka-protocol broker and the
aiosmtpd sink, all from the local stack."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from chassis.kafka import EventProducer
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics
from notification_service.config import Settings
from notification_service.main import build_app


@dataclass(frozen=True)
class Topics:
    placed: str
    cancelled: str
    low: str
    ai_ready: str


@pytest.fixture(scope="session")
def topics(local_kafka: str) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    names = Topics(
        f"order-placed-{suffix}",
        f"order-cancelled-{suffix}",
        f"inventory-low-{suffix}",
        f"ai-notification-ready-{suffix}",
    )
    partitions = {name: 3 for name in vars(names).values()}
    partitions.update({f"{name}.dlq": 1 for name in list(partitions)})
    run_sync(create_topics(local_kafka, partitions))
    return names


@pytest.fixture(scope="session")
def notification_settings(
    local_redis: str, local_kafka: str, local_smtp, topics: Topics
) -> Settings:
    return Settings(
        redis_url=local_redis,
        redis_key_prefix=f"notification-it-{uuid.uuid4().hex[:8]}",
        kafka_bootstrap_servers=local_kafka,
        smtp_host=local_smtp.host,
        smtp_port=local_smtp.port,
        smtp_timeout_seconds=2.0,
        delivery_lease_seconds=3.0,
        admin_email=f"admin-{uuid.uuid4().hex[:8]}@shop.local",
        consumer_group=f"notification-it-{uuid.uuid4().hex[:8]}",
        topic_order_placed=topics.placed,
        topic_order_cancelled=topics.cancelled,
        topic_inventory_low=topics.low,
        topic_ai_notification_ready=topics.ai_ready,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
def notification_fastapi(notification_settings: Settings) -> FastAPI:
    return build_app(notification_settings)


@pytest.fixture(scope="session")
async def notification_app(notification_fastapi: FastAPI) -> AsyncIterator[FastAPI]:
    app = notification_fastapi
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        yield manager.app  # type: ignore[misc]


@pytest.fixture
async def client(notification_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=notification_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify", timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
async def producer(local_kafka: str) -> AsyncIterator[EventProducer]:
    events = EventProducer(local_kafka)
    await events.start()
    yield events
    await events.stop()


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
