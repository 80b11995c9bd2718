"""Redis away: the consumer pauses (no email sent blind, nothing dead-lettered) and sends the
email exactly once when Redis is back. Uses a private redis-server it starts and stops."""

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from asgi_lifespan import LifespanManager

from chassis.events import decode_event, new_event
from chassis.kafka import EventProducer
from devstack.asyncbridge import run_sync
from devstack.provisioning import create_topics
from devstack.services import free_port
from notification_service.config import Settings
from notification_service.main import build_app

from .conftest import wait_for
from .test_emails_over_kafka import _email, _order_data


class PrivateRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed"
        self.process = await asyncio.create_subprocess_exec(
            server,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        from devstack import probes

        async def answers() -> bool:
            try:
                await probes.redis("127.0.0.1", self.port)
            except Exception:
                return False
            return True

        await wait_for(answers, within=10)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.terminate()
            await process.wait()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(free_port())
    await redis.start()
    try:
        yield redis
    finally:
        await redis.stop()


async def test_redis_outage_pauses_delivery_and_resumes_with_one_email(
    private_redis: PrivateRedis,
    local_kafka: str,
    local_smtp,
) -> None:
    topic = f"order-placed-outage-{uuid.uuid4().hex[:8]}"
    run_sync(create_topics(local_kafka, {topic: 1, f"{topic}.dlq": 1}))
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{private_redis.port}/0",
        redis_timeout_seconds=0.5,
        kafka_bootstrap_servers=local_kafka,
        smtp_host=local_smtp.host,
        smtp_port=local_smtp.port,
        smtp_timeout_seconds=2,
        delivery_lease_seconds=3,
        consumer_group=f"outage-{uuid.uuid4().hex[:8]}",
        topic_order_placed=topic,
        topic_order_cancelled=f"{topic}-c",
        topic_inventory_low=f"{topic}-l",
        topic_ai_notification_ready=f"{topic}-a",
        log_level="CRITICAL",
    )
    email = _email()
    data = _order_data(email, "ORD-20261125-OUTAGE01")
    event = new_event(topic, "order-service", str(data["order_id"]), data)
    app = build_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
        await private_redis.stop()
        producer = EventProducer(local_kafka)
        try:
            await producer.publish(topic, event)
        finally:
            await producer.stop()
        await asyncio.sleep(4.0)
        assert local_smtp.messages(to=email) == []  # never sent without the ledger

        await private_redis.start()

        async def arrived() -> bool:
            return bool(local_smtp.messages(to=email))

        await wait_for(arrived, within=30)
        await asyncio.sleep(1.0)
        assert len(local_smtp.messages(to=email)) == 1

    probe = AIOKafkaConsumer(
        f"{topic}.dlq",
        bootstrap_servers=local_kafka,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"probe-{uuid.uuid4().hex[:8]}",
    )
    await probe.start()
    try:
        batch = await probe.getmany(timeout_ms=1000)
        dead = [decode_event(r.value).id for rs in batch.values() for r in rs]
    finally:
        await probe.stop()
    assert event.id not in dead
