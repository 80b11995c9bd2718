"""product-service against nx-27017 (MongoDB wire protocol) and the noida-db broker."""

import asyncio
import os
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from chassis.events import CloudEvent, decode_event
from devstack.provisioning import create_topics
from product_service.config import Settings
from product_service.main import build_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def product_settings(local_mongo: str, local_kafka: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    # Own database and topic per run: runs never see each other's products or events.
    return Settings(
        mongodb_url=local_mongo,
        mongodb_db=f"product_it_{suffix}",
        kafka_bootstrap_servers=local_kafka,
        topic_product_updated=f"product-updated-{suffix}",
    )


@pytest.fixture(scope="session")
async def product_app(product_settings: Settings) -> AsyncIterator[FastAPI]:
    await create_topics(
        product_settings.kafka_bootstrap_servers, {product_settings.topic_product_updated: 3}
    )
    app = build_app(product_settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        yield manager.app  # type: ignore[misc]
    client: AsyncMongoClient = AsyncMongoClient(product_settings.mongodb_url)
    await client.drop_database(product_settings.mongodb_db)
    await client.close()


@pytest.fixture
async def client(product_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=product_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://product") as c:
        yield c


def _product_body(**overrides: object) -> dict:
    body = {
        "name": "iPhone 15 Pro",
        "description": "Latest Apple smartphone",
        "price": 999.99,
        "category": "Electronics",
        "tags": ["smartphone", "apple", "5g"],
        "stock_quantity": 100,
        "image_url": "https://img.example.com/iphone15.png",
    }
    body.update(overrides)
    return body


@pytest.fixture
def product_body():
    """``product_body(**overrides)`` -> a valid create body."""
    return _product_body


class EventReader:
    """Reads one topic from the beginning; ``for_product`` waits for a product's events."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        self.seen: list[tuple[CloudEvent, bytes | None]] = []

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def for_product(
        self, product_id: str, count: int, within: float = 15.0, settle: float = 0.0
    ) -> list[tuple[CloudEvent, bytes | None]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle_until: float | None = None

        def mine() -> list[tuple[CloudEvent, bytes | None]]:
            return [(e, k) for e, k in self.seen if e.subject == product_id]

        while loop.time() < (settle_until or deadline):
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.seen += [(decode_event(r.value), r.key) for r in records]
            if settle_until is None and len(mine()) >= count:
                settle_until = loop.time() + settle
                if not settle:
                    break
        return mine()


@pytest.fixture
async def events(product_settings: Settings) -> AsyncIterator[EventReader]:
    reader = EventReader(
        product_settings.kafka_bootstrap_servers, product_settings.topic_product_updated
    )
    await reader.start()
    yield reader
    await reader.stop()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateBroker:
    """A noida-db Kafka listener of one test alone, so it can be absent and then started."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = Path(sys.executable).with_name("noida-db")
        if not binary.exists():
            binary = Path(shutil.which("noida-db") or "noida-db")
        self.process = await asyncio.create_subprocess_exec(
            str(binary),
            "start",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--only",
            "kafka",
            "--kafka-port",
            str(self.port),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # the script runs the server as a child: signal the group
        )
        for _ in range(100):
            if _port_open(self.port):
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        pytest.fail(f"private noida-db broker did not open {self.bootstrap}")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        for _ in range(100):
            if not _port_open(self.port):
                return
            await asyncio.sleep(0.1)


@pytest.fixture
async def absent_broker(tmp_path: Path) -> AsyncIterator[PrivateBroker]:
    """A broker address with nothing listening yet; the test starts it when it wants."""
    broker = PrivateBroker(tmp_path / "noida")
    try:
        yield broker
    finally:
        await broker.stop()
